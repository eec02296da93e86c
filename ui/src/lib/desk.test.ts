// Component tests of the desk's working views against the in-memory backend: compose inside
// and outside the 24-hour window, contacts with CSV import, templates, reports, the campaign
// builder and a virtual list that renders only what is in view.
import { describe, expect, it } from "vitest";
import { fireEvent, render, screen, waitFor, within } from "@testing-library/svelte";
import { setBackend } from "./backend";
import { memoryBackend } from "./memoryBackend";
import Compose from "./Compose.svelte";
import Contacts from "./Contacts.svelte";
import Templates from "./Templates.svelte";
import Reports from "./Reports.svelte";
import Campaigns from "./Campaigns.svelte";
import ConversationList from "./ConversationList.svelte";
import MediaView from "./MediaView.svelte";
import type { ContactRow, ConversationRow } from "./types";

const NOW = 1_795_000_000;

function conversation(id: number, windowOpen: boolean): ConversationRow {
  return {
    contact_id: id, display_name: `Customer ${id}`, wa_id: `4477009${String(id).padStart(5, "0")}`, bsuid: null, vip: false,
    unread: 0, last_message_at: NOW - id, last_text: "hi", last_type: "text", last_origin: "customer",
    last_direction: "inbound", last_revoked: false, service_window_open_until: windowOpen ? NOW + 3600 : NOW - 3600,
    automation_paused_until: null, assignee: null, agent_since: null,
  };
}

describe("Compose", () => {
  it("sends free-form text inside the window with Ctrl+Enter and follows it to Meta's answer", async () => {
    const m = memoryBackend(NOW);
    m.state.conversations = [conversation(7, true)];
    setBackend(m.backend);
    let sent = 0;
    render(Compose, { contactId: 7, windowOpen: true, onsent: () => sent++ });
    const box = await screen.findByTestId("compose-text");
    await fireEvent.input(box, { target: { value: "Ready at 11!" } });
    await fireEvent.keyDown(box, { key: "Enter", ctrlKey: true });
    expect(await screen.findByTestId("send-state")).toHaveTextContent("Sent ✓");
    expect(m.calls).toContain("sendText:7:Ready at 11!");
    expect(sent).toBe(1);
  });

  it("attaches a file: a too-large one is refused in words, a PDF goes with its caption", async () => {
    const m = memoryBackend(NOW);
    m.state.conversations = [conversation(7, true)];
    setBackend(m.backend);
    render(Compose, { contactId: 7, windowOpen: true });
    const input = await screen.findByTestId("attach-input");
    const huge = new File(["x"], "catalogue.pdf", { type: "application/pdf" });
    Object.defineProperty(huge, "size", { value: 120 * 1024 * 1024 });
    await fireEvent.change(input, { target: { files: [huge] } });
    expect(await screen.findByTestId("compose-error")).toHaveTextContent("is 120 MB; WhatsApp accepts up to 100 MB");
    expect(m.calls.some((c) => c.startsWith("sendMedia"))).toBe(false);

    const pdf = new File(["%PDF-1.4 menu"], "menu.pdf", { type: "application/pdf" });
    await fireEvent.change(input, { target: { files: [pdf] } });
    expect(await screen.findByTestId("attachment")).toHaveTextContent("menu.pdf");
    await fireEvent.input(screen.getByTestId("compose-text"), { target: { value: "Our menu" } });
    await fireEvent.click(screen.getByTestId("compose-send"));
    expect(await screen.findByTestId("send-state")).toHaveTextContent("Sent ✓");
    expect(m.calls).toContain("sendMedia:7:menu.pdf:application/pdf:13:Our menu");
    expect(screen.queryByTestId("attachment")).toBeNull();
  });

  it("says why a send failed, in the words the core gives", async () => {
    const m = memoryBackend(NOW);
    m.state.conversations = [conversation(7, true)];
    m.state.sendOutcome = { state: "failed", error: "This customer cannot receive messages: the number is not on WhatsApp." };
    setBackend(m.backend);
    render(Compose, { contactId: 7, windowOpen: true });
    const box = await screen.findByTestId("compose-text");
    await fireEvent.input(box, { target: { value: "Hello" } });
    await fireEvent.click(screen.getByTestId("compose-send"));
    expect(await screen.findByTestId("send-state")).toHaveTextContent("Not sent — This customer cannot receive messages");
  });

  it("offers only approved templates outside the window, with parameters, preview and cost", async () => {
    const m = memoryBackend(NOW);
    m.state.conversations = [conversation(8, false)];
    m.state.replyCost = { ...m.state.replyCost, api: "0.0456", window_open: false, explanation: "Charged at the marketing rate." };
    setBackend(m.backend);
    render(Compose, { contactId: 8, windowOpen: false });
    const select = await screen.findByTestId("template-select");
    const options = within(select).getAllByRole("option").map((o) => o.textContent);
    expect(options).toEqual(["order_ready · en · Utility", "weekend_offer · en · Marketing"]);
    expect(screen.queryByTestId("compose-text")).toBeNull();
    // Both placeholders must be filled before anything is sent.
    await fireEvent.click(screen.getByTestId("template-send"));
    expect(await screen.findByTestId("compose-error")).toHaveTextContent("Fill in {{1}}, {{2}}");
    const [a, b] = screen.getAllByTestId("template-param");
    await fireEvent.input(a, { target: { value: "Asha" } });
    await fireEvent.input(b, { target: { value: "#42" } });
    expect(screen.getByTestId("template-preview")).toHaveTextContent("Hi Asha, your order #42 is ready.");
    expect(await screen.findByTestId("template-cost")).toHaveTextContent("0.0456 USD");
    await fireEvent.click(screen.getByTestId("template-send"));
    expect(await screen.findByTestId("send-state")).toHaveTextContent("Sent ✓");
    expect(m.calls).toContain("sendTemplate:8:order_ready:en:1=Asha,2=#42");
  });

  it("switches to templates when the core says the window has just closed", async () => {
    const m = memoryBackend(NOW);
    m.state.conversations = [conversation(9, false)];
    setBackend(m.backend);
    // The view still thinks the window is open (the list had not refreshed yet).
    render(Compose, { contactId: 9, windowOpen: true });
    const box = await screen.findByTestId("compose-text");
    await fireEvent.input(box, { target: { value: "Are you there?" } });
    await fireEvent.click(screen.getByTestId("compose-send"));
    expect(await screen.findByTestId("compose-notice")).toHaveTextContent("window with them is closed");
    expect(screen.getByTestId("template-select")).toBeInTheDocument();
    expect(m.state.sends).toHaveLength(0);
  });

  it("explains why sending is off when no number is connected", async () => {
    const m = memoryBackend(NOW);
    m.state.engine = { sending: false, receiver_url: null, notes: ["Sending is off: no access token is stored: connect the number in Settings, run `coexist --data-dir DIR secret access-token`, or set COEXIST_ACCESS_TOKEN."], simulator: false, engine_elsewhere: null };
    setBackend(m.backend);
    render(Compose, { contactId: 7, windowOpen: true });
    expect(await screen.findByTestId("compose-off")).toHaveTextContent("no access token");
    expect(screen.getByTestId("compose-text")).toBeDisabled();
  });
});

describe("A picture on its way", () => {
  it("shows the picture when the core says its download is done, without asking again meanwhile", async () => {
    const m = memoryBackend(NOW);
    const base = { mime: "image/png", bytes: 68, file: null, filename: null };
    m.state.media[5] = { ...base, state: "downloading", note: "downloading", data_url: null };
    setBackend(m.backend);
    render(MediaView, { messageId: 5, kind: "image", mime: "image/png" });
    expect(await screen.findByTestId("media-note")).toHaveTextContent("downloading");
    m.state.media[5] = { ...base, state: "done", note: null, data_url: "data:image/png;base64,iVBORw0KGgo=", file: "ab/cd" };
    // Another message's file changing is not this one's business.
    m.emit({ kind: "media_changed", message_id: 6, state: "done" });
    await new Promise((r) => setTimeout(r, 20));
    expect(m.calls.filter((c) => c === "mediaPreview:5")).toHaveLength(1);
    m.emit({ kind: "media_changed", message_id: 5, state: "done" });
    expect(await screen.findByTestId("media-image")).toBeInTheDocument();
    expect(m.calls.filter((c) => c === "mediaPreview:5")).toHaveLength(2);
  });
});

describe("Virtual lists", () => {
  it("render only the rows in view of 20,000 conversations", async () => {
    const rows = Array.from({ length: 20_000 }, (_, i) => conversation(i + 1, i % 2 === 0));
    const { container } = render(ConversationList, { conversations: rows, now: NOW, selected: null });
    const shown = container.querySelectorAll("[data-testid=conversation]").length;
    expect(shown).toBeGreaterThan(5);
    expect(shown).toBeLessThan(40);
    const spacer = container.querySelector(".spacer") as HTMLElement;
    expect(spacer.style.height).toBe(`${20_000 * 72}px`);
  });
});

function contact(id: number, over: Partial<ContactRow> = {}): ContactRow {
  return {
    id, wa_id: `44770090${String(id).padStart(4, "0")}`, bsuid: null, display_name: `Person ${id}`, vip: false,
    tags: "[]", consent: null, last_inbound_at: null, last_message_at: null, source: "message", ...over,
  };
}

describe("Contacts", () => {
  it("searches, tags, records consent with its history, and names refused CSV lines", async () => {
    const m = memoryBackend(NOW);
    m.state.contacts = [contact(1, { display_name: "Asha", tags: '["regulars"]' }), contact(2, { display_name: "Bob" })];
    setBackend(m.backend);
    render(Contacts, { now: NOW });
    expect(await screen.findByTestId("contact-total")).toHaveTextContent("2");
    await fireEvent.input(screen.getByTestId("contact-search"), { target: { value: "regulars" } });
    await waitFor(() => expect(screen.getAllByTestId("contact")).toHaveLength(1));
    await fireEvent.click(screen.getByTestId("contact"));
    expect(await screen.findByTestId("contact-consent")).toHaveTextContent("Not asked yet");
    await fireEvent.input(screen.getByTestId("contact-tags"), { target: { value: "regulars, cakes" } });
    await fireEvent.click(screen.getByTestId("contact-tags-save"));
    await waitFor(() => expect(m.calls).toContain("setTags:1:regulars|cakes"));
    await fireEvent.click(screen.getByTestId("consent-in"));
    await waitFor(() => expect(screen.getByTestId("contact-consent")).toHaveTextContent("Opted in"));
    expect(screen.getByTestId("consent-history")).toHaveTextContent("Opted in recorded at the desk");

    const csv = new File(["phone,name\n+447700900123,Ana\nnot a number,Bo\n"], "people.csv", { type: "text/csv" });
    await fireEvent.change(screen.getByTestId("contact-import"), { target: { files: [csv] } });
    expect(await screen.findByTestId("import-report")).toHaveTextContent("1 added, 0 updated, 1 row(s) not imported");
    expect(screen.getByTestId("import-error")).toHaveTextContent('Line 3: "not a number" is not a phone number');
  });
});

describe("Templates", () => {
  it("lists statuses in words and submits a new template for review", async () => {
    const m = memoryBackend(NOW);
    setBackend(m.backend);
    render(Templates);
    await waitFor(() => expect(screen.getAllByTestId("template-row")).toHaveLength(3));
    expect(m.calls).toContain("templates:true");
    expect(screen.getAllByTestId("template-row")[2]).toHaveTextContent("In review");
    await fireEvent.input(screen.getByTestId("new-template-name"), { target: { value: "order_late" } });
    await fireEvent.input(screen.getByTestId("new-template-body"), { target: { value: "Sorry {{1}}, a little late." } });
    await fireEvent.submit(screen.getByTestId("template-form"));
    expect(await screen.findByTestId("template-saved")).toHaveTextContent("“order_late” was submitted");
    await waitFor(() => expect(screen.getAllByTestId("template-row")).toHaveLength(4));
  });
});

describe("Reports", () => {
  it("shows median response times, who answers, and traffic by hour", async () => {
    const m = memoryBackend(NOW);
    m.state.responseReport = {
      from: NOW - 30 * 86_400, to: NOW + 1, median_first_response_secs: 540, median_response_secs: 90,
      responders: [
        { responder: "phone", staff: null, answered: 12, median_first_response_secs: 600, median_response_secs: 300 },
        { responder: "desk", staff: "sam", answered: 4, median_first_response_secs: 120, median_response_secs: 60 },
      ],
      open: 3, resolved: 9, answered_late: 2, by_hour: Array.from({ length: 24 }, (_, h) => (h === 9 ? 5 : 1)), by_weekday: [1, 2, 3, 4, 5, 6, 7],
    };
    setBackend(m.backend);
    render(Reports, { now: NOW });
    expect(await screen.findByTestId("median-first")).toHaveTextContent("9 min");
    expect(screen.getByTestId("open-count")).toHaveTextContent("3");
    expect(screen.getByTestId("late-count")).toHaveTextContent("2");
    const table = screen.getByTestId("responders");
    expect(table).toHaveTextContent("The phone app");
    expect(table).toHaveTextContent("Desk · sam");
    expect(screen.getByTestId("by-hour").children).toHaveLength(24);
  });
});

describe("Campaign builder", () => {
  it("creates a draft from an approved template, then launches it after showing the cost", async () => {
    const m = memoryBackend(NOW);
    m.state.forecast = {
      currency: "USD", recipients: 3, free: 0, total: "0.1234", lines: [], sample_rates: true, policy_version: "x",
    } as never;
    setBackend(m.backend);
    window.confirm = () => true;
    render(Campaigns);
    await fireEvent.click(await screen.findByTestId("campaign-new"));
    const select = await screen.findByTestId("campaign-template");
    await waitFor(() => expect((select as HTMLSelectElement).value).toBe("weekend_offer|en"));
    await fireEvent.input(screen.getByTestId("campaign-name"), { target: { value: "Weekend" } });
    await fireEvent.click(screen.getByTestId("campaign-create"));
    expect(await screen.findByTestId("builder-error")).toHaveTextContent("Fill in {{1}}");
    await fireEvent.input(screen.getByTestId("campaign-param"), { target: { value: "20%" } });
    await fireEvent.click(screen.getByTestId("campaign-create"));
    expect(await screen.findByTestId("campaign-forecast")).toHaveTextContent("0.1234 USD");
    expect(m.state.newCampaigns[0]).toMatchObject({ name: "Weekend", template: "weekend_offer", audience: "opted_in", params: [["1", "20%"]] });
    await fireEvent.click(screen.getByTestId("campaign-launch"));
    await waitFor(() => expect(screen.getByTestId("campaign-state")).toHaveTextContent("Sending"));
    expect(m.calls).toContain("launchCampaign:101");
  });
});

describe("Campaign builder with a picture at the top", () => {
  it("asks for the picture, refuses a document, and uploads the picture before the draft", async () => {
    const m = memoryBackend(NOW);
    m.state.templates = [
      { id: "8", name: "new_menu", language: "en_US", category: "MARKETING", status: "APPROVED",
        components: [{ type: "HEADER", format: "IMAGE" }, { type: "BODY", text: "Our new menu, {{1}}!" }] },
    ];
    setBackend(m.backend);
    window.confirm = () => true;
    render(Campaigns);
    await fireEvent.click(await screen.findByTestId("campaign-new"));
    const input = await screen.findByTestId("campaign-header-input");
    await fireEvent.input(screen.getByTestId("campaign-param"), { target: { value: "friend" } });
    await fireEvent.click(screen.getByTestId("campaign-create"));
    expect(await screen.findByTestId("builder-error")).toHaveTextContent("shows a picture at its top: choose the file");
    expect(m.state.newCampaigns).toHaveLength(0);

    const pdf = new File(["%PDF-1.4"], "menu.pdf", { type: "application/pdf" });
    await fireEvent.change(input, { target: { files: [pdf] } });
    await fireEvent.click(screen.getByTestId("campaign-create"));
    await waitFor(() => expect(screen.getByTestId("builder-error")).toHaveTextContent("menu.pdf is not one"));
    expect(m.state.newCampaigns).toHaveLength(0);

    const png = new File([new Uint8Array([137, 80, 78, 71, 13, 10, 26, 10])], "menu.png", { type: "image/png" });
    await fireEvent.change(input, { target: { files: [png] } });
    expect(await screen.findByTestId("campaign-header")).toHaveTextContent("menu.png");
    await fireEvent.click(screen.getByTestId("campaign-create"));
    await waitFor(() => expect(m.state.newCampaigns).toHaveLength(1));
    expect(m.calls).toContain("campaignHeader:menu.png:image/png:8");
    expect(m.state.newCampaigns[0]).toMatchObject({ template: "new_menu", header: { kind: "image", media_id: "hm-1" } });
  });
});

describe("Onboarding wizard", () => {
  it("walks eligibility, credentials (secrets only ever 'set'), the syncs with their countdown, and autostart", async () => {
    const { default: Onboarding } = await import("./Onboarding.svelte");
    const m = memoryBackend(NOW);
    setBackend(m.backend);
    render(Onboarding, { now: NOW, onclose: () => {} });
    expect(screen.getByTestId("give-up")).toHaveTextContent("Groups and calls stay on the phone");
    // Issue 15: what stops working with coexistence, and how to leave it.
    expect(screen.getByTestId("give-up")).toHaveTextContent("WhatsApp for Windows and Wear OS");
    expect(screen.getByTestId("give-up")).toHaveTextContent("never reaches Coexist");
    expect(screen.getByTestId("give-up")).toHaveTextContent("Disappearing messages, view-once media and live location");
    expect(screen.getByTestId("give-up")).toHaveTextContent("Business Platform › Disconnect");
    await fireEvent.click(screen.getByTestId("wizard-next"));
    // Not eligible: the wizard does not let the owner go on.
    await fireEvent.input(screen.getByTestId("elig-number"), { target: { value: "+7 912 345 6789" } });
    await fireEvent.submit(screen.getByTestId("elig-check").closest("form")!);
    expect(await screen.findByTestId("elig-answer")).toHaveTextContent("cannot use coexistence yet");
    expect(screen.getByTestId("wizard-next")).toBeDisabled();
    await fireEvent.input(screen.getByTestId("elig-number"), { target: { value: "+44 7700 900123" } });
    await fireEvent.input(screen.getByTestId("elig-version"), { target: { value: "2.25.1" } });
    await fireEvent.submit(screen.getByTestId("elig-check").closest("form")!);
    await waitFor(() => expect(screen.getByTestId("elig-answer")).toHaveTextContent("This number can use coexistence."));
    await fireEvent.click(screen.getByTestId("wizard-next"));

    await fireEvent.input(screen.getByTestId("conn-waba"), { target: { value: "1001" } });
    await fireEvent.input(screen.getByTestId("conn-phone"), { target: { value: "2002" } });
    await fireEvent.input(screen.getByTestId("conn-token"), { target: { value: "EAAG-secret" } });
    await fireEvent.input(screen.getByTestId("conn-secret"), { target: { value: "app-secret" } });
    await fireEvent.submit(screen.getByTestId("conn-submit").closest("form")!);
    expect(await screen.findByTestId("conn-result")).toHaveTextContent("verify token is still missing");
    expect(screen.getByTestId("wizard-next")).toBeDisabled();
    // The typed secrets are cleared from the window once handed to the keyring.
    expect((screen.getByTestId("conn-token") as HTMLInputElement).value).toBe("");
    await fireEvent.input(screen.getByTestId("conn-token"), { target: { value: "EAAG-secret" } });
    await fireEvent.input(screen.getByTestId("conn-secret"), { target: { value: "app-secret" } });
    await fireEvent.input(screen.getByTestId("conn-verify"), { target: { value: "phrase" } });
    await fireEvent.submit(screen.getByTestId("conn-submit").closest("form")!);
    await waitFor(() => expect(screen.getByTestId("conn-result")).toHaveTextContent("Linked: Test Shop"));
    expect(screen.getByTestId("conn-result")).not.toHaveTextContent("EAAG-secret");
    expect(m.state.connected).toMatchObject({ waba_id: "1001", phone_number_id: "2002", verify_token: "phrase" });
    await fireEvent.click(screen.getByTestId("wizard-next"));

    expect(screen.getByTestId("sync-countdown")).toHaveTextContent("Time left to ask: 24 h 00 min");
    await fireEvent.click(screen.getByTestId("sync-history"));
    await waitFor(() => expect(screen.getByTestId("sync-history")).toBeDisabled());
    expect(m.calls).toContain("requestSync:history");
    await fireEvent.click(screen.getByTestId("wizard-next"));
    await fireEvent.click(screen.getByTestId("wizard-next"));
    await fireEvent.click(screen.getByTestId("wizard-autostart"));
    await waitFor(() => expect(m.calls).toContain("setAutostart:true"));
    await fireEvent.click(screen.getByTestId("wizard-next"));
    expect(screen.getByTestId("wizard-done")).toHaveTextContent("All set.");
  });
});
