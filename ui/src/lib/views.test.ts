import { describe, expect, it } from "vitest";
import { fireEvent, render, screen, waitFor } from "@testing-library/svelte";
import { forgetPin, setBackend } from "./backend";
import { DAY, memoryBackend } from "./memoryBackend";
import Dashboard from "./Dashboard.svelte";
import Billing from "./Billing.svelte";
import AuditLog from "./AuditLog.svelte";
import Automation from "./Automation.svelte";
import Thread from "./Thread.svelte";
import Settings from "./Settings.svelte";
import Search from "./Search.svelte";
import Campaigns from "./Campaigns.svelte";
import PinPrompt from "./PinPrompt.svelte";
import type { ConversationRow, ThreadMessage } from "./types";
import type { BillingReport } from "./types";

const NOW = 1_795_000_000; // November 2026

function report(over: Partial<BillingReport> = {}): BillingReport {
  return {
    currency: "USD",
    from: 0,
    to: 0,
    total: "0.0291",
    by_category: { marketing: "0.0118", utility: "0.0038", authentication: "0.0135" },
    by_market: { India: "0.0156", "North America": "0.0135" },
    by_origin: { api: "0.0291", phone: "0" },
    by_month: { "2026-11": "0.0291" },
    savings: "0.004",
    messages: { api: 8, phone: 2, charged: 5, free: 5 },
    disagreements: { count: 0, examples: [] },
    unpriced: {},
    rate_cards: [],
    sample_rates: false,
    service_charge_2026: true,
    service_allowance: null,
    policy_version: "2026-10-01.1",
    ...over,
  };
}

describe("Dashboard", () => {
  it("lists messages held after a restore and uncertain ones, and lets the owner release, cancel or resend", async () => {
    const m = memoryBackend(NOW, { billing: report() });
    const row = { kind: "template", attempts: 0, wamid: null, last_error_code: null, last_error: null, callback_token: null };
    const why = "Restored from a backup: this message was waiting when the backup was taken.";
    m.state.outbox = [
      { ...row, id: 1, recipient: "447700900001", state: "queued", held_reason: why },
      { ...row, id: 2, recipient: "447700900002", state: "queued", held_reason: why },
      { ...row, id: 3, recipient: "447700900003", state: "queued", held_reason: null },
      { ...row, id: 4, recipient: "447700900004", state: "uncertain", held_reason: null, attempts: 1 },
    ];
    setBackend(m.backend);
    const asked: string[] = [];
    window.confirm = (q?: string) => (asked.push(q ?? ""), true);
    render(Dashboard, { now: NOW });
    const card = await screen.findByTestId("outbox-card");
    expect(card).toHaveTextContent("2 messages were waiting when the restored backup was taken");
    expect(card).toHaveTextContent("1 message may or may not have reached the customer");
    // The one that is simply queued is not the owner's business here.
    expect(screen.getAllByTestId("outbox-row")).toHaveLength(3);
    await fireEvent.click(screen.getAllByTestId("outbox-cancel")[0]);
    await waitFor(() => expect(m.calls).toContain("outboxCancel:1"));
    await waitFor(() => expect(screen.getAllByTestId("outbox-row")).toHaveLength(2));
    await fireEvent.click(screen.getByTestId("outbox-resend"));
    await waitFor(() => expect(m.calls).toContain("outboxResend:4"));
    expect(asked.at(-1)).toContain("may get it twice");
    await fireEvent.click(screen.getByTestId("outbox-release"));
    expect(await screen.findByTestId("outbox-message")).toHaveTextContent("1 held message released");
    expect(m.calls).toContain("outboxRelease:2");
    await waitFor(() => expect(screen.queryAllByTestId("outbox-row")).toHaveLength(0));
  });

  it("shows days since the phone app, the month's cost and savings, and records 'I opened it'", async () => {
    const m = memoryBackend(NOW, { billing: report() });
    setBackend(m.backend);
    render(Dashboard, { now: NOW });
    expect(await screen.findByTestId("days-since")).toHaveTextContent("3 days ago");
    expect(await screen.findByTestId("month-total")).toHaveTextContent("0.0291 USD spent through the API");
    expect(screen.getByTestId("month-savings")).toHaveTextContent("saved 0.004 USD");
    expect(screen.queryByTestId("sample-note")).toBeNull();
    await fireEvent.click(screen.getByTestId("ack-button"));
    await waitFor(() => expect(screen.getByTestId("days-since")).toHaveTextContent("today"));
    expect(m.calls).toContain("acknowledgeHeartbeat");
    // The month asked for is the current one.
    expect(m.calls.some((c) => c === "billing:1793491200:1796083200")).toBe(true);
  });

  it("shows what Meta said about the account and how long webhooks were not received", async () => {
    const m = memoryBackend(NOW, { billing: report() });
    const r = { fired_at: NOW - 50, acknowledged_at: null, cancelled_at: null, skipped: false };
    m.state.reminders = [
      { ...r, id: 1, kind: "account_notice", urgency: "normal", title: "Meta restricted this WhatsApp account",
        detail: "Meta restricted what this account may send.", due_at: NOW - 100 },
      { ...r, id: 2, kind: "receiver_gap", urgency: "normal", title: "Webhooks were not received for 3 h 20 min",
        detail: "Meta retries a failed delivery for up to 7 days (1 hour for numbers with No Storage).", due_at: NOW - 60 },
      { ...r, id: 3, kind: "heartbeat", urgency: "normal", title: "Open the app", detail: "day 10", due_at: NOW - 30 },
    ];
    setBackend(m.backend);
    render(Dashboard, { now: NOW });
    const shown = await screen.findAllByTestId("notice");
    expect(shown).toHaveLength(2);
    expect(shown[0]).toHaveTextContent("Webhooks were not received for 3 h 20 min");
    expect(shown[0]).toHaveTextContent("up to 7 days (1 hour for numbers with No Storage)");
    expect(shown[1]).toHaveTextContent("Meta restricted this WhatsApp account");
  });

  it("raises the alarm when the link is dropped, and warns from day 10", async () => {
    const m = memoryBackend(NOW, { billing: report({ sample_rates: true }) });
    m.state.heartbeat = { ...m.state.heartbeat, link_state: "dropped", link_reason: "PRIMARY_INACTIVITY" };
    setBackend(m.backend);
    render(Dashboard, { now: NOW });
    expect(await screen.findByTestId("link-alarm")).toHaveTextContent("not opened for 14 days");
    expect(screen.getByTestId("heartbeat-card").className).toContain("alarm");
    expect(await screen.findByTestId("sample-note")).toBeInTheDocument();

    const w = memoryBackend(NOW, { billing: report() });
    w.state.heartbeat = { ...w.state.heartbeat, days_since: 11, last_heartbeat: NOW - 11 * DAY };
    setBackend(w.backend);
    const { container } = render(Dashboard, { now: NOW });
    await waitFor(() => expect(container.querySelector(".card.warn")).not.toBeNull());
  });

  it("says plainly when the deadline has already passed", async () => {
    const m = memoryBackend(NOW, { billing: report() });
    m.state.heartbeat = { ...m.state.heartbeat, days_since: 20, last_heartbeat: NOW - 20 * DAY, deadline_at: NOW - 7 * DAY };
    setBackend(m.backend);
    render(Dashboard, { now: NOW });
    expect(await screen.findByTestId("deadline-passed")).toHaveTextContent("Open it now");
  });

  it("warns when Meta's API version Coexist speaks is about to end, and is quiet otherwise", async () => {
    const quiet = memoryBackend(NOW, { billing: report() });
    setBackend(quiet.backend);
    const first = render(Dashboard, { now: NOW });
    await screen.findByTestId("days-since");
    await waitFor(() => expect(quiet.calls).toContain("graphApi"));
    expect(screen.queryByTestId("graph-warning")).toBeNull();
    first.unmount();

    const m = memoryBackend(NOW, { billing: report() });
    m.state.graphApi = {
      version: "v24.0", ends: "2027-01-20", estimated: true, days_left: 47,
      warning: "Meta ends Graph API v24.0 in 47 days (about 2027-01-20); update Coexist before then",
    };
    setBackend(m.backend);
    render(Dashboard, { now: NOW });
    expect(await screen.findByTestId("graph-warning")).toHaveTextContent("v24.0 in 47 days");
  });

  it("shows an error in words when the core fails", async () => {
    const m = memoryBackend(NOW, { fail: { code: "internal", message: "the database could not be used: disk full" } });
    setBackend(m.backend);
    render(Dashboard, { now: NOW });
    expect(await screen.findByRole("alert")).toHaveTextContent("disk full");
  });
});

describe("Billing", () => {
  it("lists the month by category, market and origin, with disagreements", async () => {
    const m = memoryBackend(NOW, {
      billing: report({
        disagreements: { count: 1, examples: [{ wamid: "wamid.X1", at: NOW, detail: "Meta says free, Coexist computed billable" }] },
        unpriced: { shiny_new_thing: 3 },
      }),
    });
    setBackend(m.backend);
    render(Billing, { now: NOW });
    expect(await screen.findByTestId("billing-total")).toHaveTextContent("0.0291 USD");
    expect(screen.getByRole("rowheader", { name: "Marketing" }).nextElementSibling).toHaveTextContent("0.0118 USD");
    expect(screen.getByRole("rowheader", { name: "India" }).nextElementSibling).toHaveTextContent("0.0156 USD");
    expect(screen.getByTestId("disagreements")).toHaveTextContent("wamid.X1");
    expect(screen.getByTestId("billing-unpriced")).toHaveTextContent("shiny_new_thing (3)");
    // Six months in the chart, each asked for its own month.
    await waitFor(() => expect(screen.getByTestId("billing-months").querySelectorAll(".month")).toHaveLength(6));
    expect(new Set(m.calls.filter((c) => c.startsWith("billing:"))).size).toBe(6);
    await fireEvent.click(screen.getByTestId("billing-export"));
    expect(await screen.findByTestId("billing-exported")).toHaveTextContent("Saved to /home/me/Downloads/coexist-billing-November");
    await fireEvent.click(screen.getByLabelText("Previous month"));
    expect(await screen.findByRole("heading", { name: "October 2026" })).toBeInTheDocument();
  });
});

describe("Audit log", () => {
  it("says when the chain is intact and names every break", async () => {
    const m = memoryBackend(NOW);
    m.state.audit = {
      entries: [{ seq: 1, at: NOW, actor: "ana", action: "send", subject: "919800000001", details: "{}", prev_hash: "0", hash: "1", sealed: true }],
      verification: { entries: 1, ok: true, breaks: [], sealed: 1, key_available: true },
    };
    setBackend(m.backend);
    const first = render(AuditLog);
    expect(await screen.findByTestId("audit-ok")).toHaveTextContent("1 entries");
    expect(screen.getByTestId("audit-ok")).toHaveTextContent("1 sealed with this computer's audit key and checked");
    expect(screen.getByText("ana")).toBeInTheDocument();
    first.unmount();
    m.state.audit.verification = { entries: 1, ok: false, breaks: [{ seq: 1, problem: "its content was changed" }], sealed: 1, key_available: true };
    render(AuditLog);
    expect(await screen.findByTestId("audit-broken")).toHaveTextContent("Entry 1: its content was changed");
  });
});

describe("Dashboard sync countdown", () => {
  it("counts down the 24-hour sync window until both syncs are requested", async () => {
    const m = memoryBackend(NOW, { billing: report() });
    setBackend(m.backend);
    render(Dashboard, { now: NOW });
    expect(await screen.findByTestId("sync-countdown")).toHaveTextContent("22 h 0 min left");
    await fireEvent.click(screen.getByTestId("dash-sync-history"));
    await waitFor(() => expect(screen.getByTestId("dash-sync-history")).toHaveTextContent("Requested ✓"));
    expect(screen.getByTestId("dash-sync-contacts")).not.toBeDisabled();
    expect(m.calls).toContain("requestSync:history");
    m.state.onboarding.requests = [
      { sync_type: "history", intent_at: NOW, result: "accepted" },
      { sync_type: "smb_app_state_sync", intent_at: NOW, result: "accepted" },
    ];
    const again = render(Dashboard, { now: NOW });
    await waitFor(() => expect(again.container.querySelector("[data-testid=days-since]")).not.toBeNull());
    expect(again.container.querySelector("[data-testid=sync-card]")).toBeNull();
  });
});

describe("Dashboard campaigns", () => {
  it("shows running campaigns with their progress", async () => {
    const m = memoryBackend(NOW, { billing: report() });
    m.state.campaigns = [
      { id: 1, name: "Weekend", template: "spring_sale", state: "running", stopped_reason: null, total: 5, queued: 3,
        dispatching: 0, accepted: 2, failed: 0, uncertain: 0, cancelled: 0, skipped: 0, delivered: 2, read: 1 },
      { id: 2, name: "Old", template: "x", state: "cancelled", stopped_reason: null, total: 1, queued: 0,
        dispatching: 0, accepted: 0, failed: 0, uncertain: 0, cancelled: 1, skipped: 0, delivered: 0, read: 0 },
    ];
    setBackend(m.backend);
    render(Dashboard, { now: NOW });
    const card = await screen.findByTestId("dash-campaigns");
    expect(card).toHaveTextContent("Weekend — 2 of 5 sent");
    expect(card).not.toHaveTextContent("Old");
  });
});

describe("Automation", () => {
  it("lists the rules and tests one without sending", async () => {
    const m = memoryBackend(NOW);
    setBackend(m.backend);
    render(Automation);
    expect(await screen.findByTestId("automation-state")).toHaveTextContent("On");
    expect(screen.getByText(/We open at 9/)).toBeInTheDocument();
    await fireEvent.input(screen.getByTestId("rule-text"), { target: { value: "Are you OPEN today?" } });
    await fireEvent.click(screen.getByTestId("rule-test"));
    expect(await screen.findByTestId("rule-result")).toHaveTextContent("faq:hours");
    await fireEvent.input(screen.getByTestId("rule-text"), { target: { value: "reopening?" } });
    await fireEvent.click(screen.getByTestId("rule-test"));
    await waitFor(() => expect(screen.getByTestId("rule-result")).toHaveTextContent("No rule would answer"));
  });
});

describe("Thread", () => {
  const row: ConversationRow = {
    contact_id: 7, display_name: "Priya", wa_id: "919800000001", bsuid: null, vip: false, unread: 0,
    last_message_at: NOW, last_text: "hi", last_type: "text", last_origin: "customer", last_direction: "inbound",
    last_revoked: false, service_window_open_until: NOW + 3600, automation_paused_until: null, assignee: null,
    agent_since: null,
  };
  const msg = (id: number, over: Partial<ThreadMessage>): ThreadMessage => ({
    id, wamid: `w${id}`, direction: "outbound", origin: "api", type: "text", text: "t", media_id: null, media_mime: null,
    media_available: false, timestamp: NOW - 100 + id, status: "delivered", edited: false, revoked: false,
    content_known: true, error: null, send_source: null, sent_by: null, ...over,
  });

  it("shows who answered, flags a VIP and hands the chat over and back", async () => {
    const m = memoryBackend(NOW);
    m.state.conversations = [row];
    m.state.thread = [
      msg(1, { direction: "inbound", origin: "customer", status: null }),
      msg(2, { send_source: "automation", sent_by: "automation" }),
      msg(3, { origin: "phone", status: null }),
      msg(4, { send_source: "desk", sent_by: "ana" }),
    ];
    setBackend(m.backend);
    render(Thread, { conversation: row, now: NOW, lastMessageAt: NOW });
    await waitFor(() => expect(screen.getAllByTestId("badge")).toHaveLength(4));
    expect(screen.getAllByTestId("badge").map((b) => b.textContent)).toEqual(["Customer", "Automation", "Phone", "Desk · ana"]);
    expect(screen.getByText("Reply window open until", { exact: false })).toBeInTheDocument();

    await fireEvent.click(screen.getByTestId("vip-toggle"));
    await waitFor(() => expect(screen.getByTestId("vip-toggle")).toHaveAttribute("aria-pressed", "true"));
    expect(m.calls).toContain("setVip:7:true");

    await fireEvent.click(screen.getByTestId("automation-toggle"));
    expect(await screen.findByTestId("automation-paused")).toBeInTheDocument();
    expect(m.calls).toContain("setAutomationPause:7:true");
    await fireEvent.click(screen.getByTestId("automation-toggle"));
    await waitFor(() => expect(screen.queryByTestId("automation-paused")).toBeNull());
    expect(m.calls).toContain("setAutomationPause:7:false");

    await fireEvent.click(screen.getByTestId("assign-toggle"));
    await waitFor(() => expect(screen.getByTestId("assign-toggle")).toHaveTextContent("Assigned to me"));
    expect(m.calls).toContain("setAssignee:7:owner");
  });

  it("marks a chat read only when it has unread messages, once its newest page is shown", async () => {
    const m = memoryBackend(NOW);
    m.state.conversations = [{ ...row, unread: 2 }];
    m.state.thread = [msg(1, { direction: "inbound", origin: "customer", status: null })];
    setBackend(m.backend);
    let opened = 0;
    render(Thread, { conversation: { ...row, unread: 2 }, now: NOW, lastMessageAt: NOW, onopened: () => opened++ });
    await waitFor(() => expect(m.calls).toContain("markRead:7"));
    expect(opened).toBe(1);
    expect(m.state.conversations[0].unread).toBe(0);

    const quiet = memoryBackend(NOW);
    quiet.state.conversations = [row];
    quiet.state.thread = [msg(1, {})];
    setBackend(quiet.backend);
    render(Thread, { conversation: row, now: NOW, lastMessageAt: NOW });
    await waitFor(() => expect(quiet.calls).toContain("thread"));
    expect(quiet.calls.some((c) => c.startsWith("markRead"))).toBe(false);
  });

  it("shows a customer's photo inline, and says why another file is missing", async () => {
    const m = memoryBackend(NOW);
    m.state.conversations = [row];
    m.state.thread = [
      msg(1, { direction: "inbound", origin: "customer", status: null, type: "image", text: "the receipt", media_id: "m1", media_mime: "image/png", media_available: true }),
      msg(2, { direction: "inbound", origin: "customer", status: null, type: "document", text: "invoice.pdf", media_id: "m2", media_mime: "application/pdf", media_available: true }),
    ];
    m.state.media = {
      1: { state: "done", note: null, mime: "image/png", bytes: 2048, data_url: "data:image/png;base64,iVBORw0KGgo=", file: "/ws/media/ab/abcd", filename: null },
      2: { state: "expired", note: "Meta keeps media for 7 days and this file was not downloaded in time.", mime: "application/pdf", bytes: null, data_url: null, file: null, filename: null },
    };
    setBackend(m.backend);
    render(Thread, { conversation: row, now: NOW, lastMessageAt: NOW });
    const img = await screen.findByTestId("media-image");
    expect(img).toHaveAttribute("src", "data:image/png;base64,iVBORw0KGgo=");
    expect(await screen.findByTestId("media-note")).toHaveTextContent("application/pdf — Meta keeps media for 7 days");
    expect(screen.getAllByTestId("media-save")).toHaveLength(1);
    await fireEvent.click(screen.getByTestId("media-save"));
    expect(await screen.findByTestId("media-saved")).toHaveTextContent("Saved to /home/me/Downloads/file-1.pdf");
  });

  it("shows a document by its own name and opens it in the computer's app", async () => {
    const m = memoryBackend(NOW);
    m.state.conversations = [row];
    m.state.thread = [
      msg(1, { direction: "inbound", origin: "customer", status: null, type: "document", text: "Our price list", media_id: "m1", media_mime: "application/pdf", media_available: true }),
    ];
    m.state.media = {
      1: { state: "done", note: null, mime: "application/pdf", bytes: 20_480, data_url: null, file: "/ws/media/ab/abcd", filename: "price-list.pdf" },
    };
    setBackend(m.backend);
    render(Thread, { conversation: row, now: NOW, lastMessageAt: NOW });
    expect(await screen.findByTestId("media-filename")).toHaveTextContent("price-list.pdf");
    expect(screen.getByTestId("media-note")).toHaveTextContent("price-list.pdf · application/pdf · 20 KB");
    await fireEvent.click(screen.getByTestId("media-open"));
    expect(m.calls).toContain("openMedia:1");
  });

  it("says so when a voice note cannot be played, instead of showing a dead player", async () => {
    const m = memoryBackend(NOW);
    m.state.conversations = [row];
    m.state.thread = [
      msg(1, { direction: "inbound", origin: "customer", status: null, type: "audio", text: null, media_id: "m1", media_mime: "audio/ogg; codecs=opus", media_available: true }),
    ];
    m.state.media = {
      1: { state: "done", note: null, mime: "audio/ogg; codecs=opus", bytes: 9000, data_url: "data:audio/ogg;base64,T2dnUw==", file: "/ws/media/ab/abcd", filename: null },
    };
    setBackend(m.backend);
    render(Thread, { conversation: row, now: NOW, lastMessageAt: NOW });
    const audio = await screen.findByTestId("media-audio");
    expect(audio).toHaveAttribute("src", "data:audio/ogg;base64,T2dnUw==");
    expect(screen.queryByTestId("media-unplayable")).toBeNull();
    // What WebKit reports when no decoder takes the file (MEDIA_ERR_SRC_NOT_SUPPORTED).
    Object.defineProperty(audio, "error", { value: { code: 4 } });
    await fireEvent.error(audio);
    expect(await screen.findByTestId("media-unplayable")).toHaveTextContent(
      "This computer has no player for this recording (audio/ogg; codecs=opus). Save a copy",
    );
    expect(screen.queryByTestId("media-audio")).toBeNull();
    expect(screen.getByTestId("media-save")).toBeInTheDocument();
  });

  it("says when Meta's Business Agent is answering the chat", async () => {
    const m = memoryBackend(NOW);
    const agentRow = { ...row, agent_since: NOW - 60 };
    m.state.conversations = [agentRow];
    m.state.thread = [msg(1, { direction: "inbound", origin: "customer", status: null })];
    setBackend(m.backend);
    render(Thread, { conversation: agentRow, now: NOW, lastMessageAt: NOW });
    expect(await screen.findByTestId("agent-chat")).toHaveTextContent("Meta's Business Agent is answering this chat");
  });

  it("prices the reply: free from the phone, and what the API would charge", async () => {
    const m = memoryBackend(NOW);
    m.state.replyCost = { ...m.state.replyCost, api: "0.0014", pricing_type: "regular", explanation: "Charged at the utility rate for India." };
    setBackend(m.backend);
    render(Thread, { conversation: row, now: NOW, lastMessageAt: NOW });
    expect(await screen.findByTestId("reply-cost")).toHaveTextContent("Reply from the phone: free · through the API: 0.0014 USD");
    expect(m.calls).toContain("replyCost:7:null");
  });
});

describe("Settings", () => {
  it("shows the data folder and turns autostart on (off by default)", async () => {
    const m = memoryBackend(NOW, { billing: report() });
    setBackend(m.backend);
    render(Settings, { now: NOW });
    expect(await screen.findByTestId("data-dir")).toHaveTextContent("/tmp/ws");
    expect(await screen.findByTestId("media-usage")).toHaveTextContent("Media: 12 files, 3.4 MB");
    const box = await screen.findByTestId("autostart");
    expect(box).not.toBeChecked();
    await fireEvent.click(box);
    await waitFor(() => expect(m.calls).toContain("setAutostart:true"));
  });

  it("turns the partner-reported service allowance on (off by default)", async () => {
    const m = memoryBackend(NOW, { billing: report() });
    setBackend(m.backend);
    render(Settings, { now: NOW });
    const box = await screen.findByTestId("service-allowance");
    expect(box).not.toBeChecked();
    await fireEvent.click(box);
    await waitFor(() => expect(m.calls).toContain("setServiceAllowance:true"));
    await waitFor(() => expect(screen.getByTestId("service-allowance")).toBeChecked());
  });
});

describe("Settings backup and rate card", () => {
  it("backs up now and imports a rate card, naming refused lines", async () => {
    const m = memoryBackend(NOW, { billing: report() });
    setBackend(m.backend);
    render(Settings, { now: NOW });
    await fireEvent.click(await screen.findByTestId("backup-now"));
    expect(await screen.findByTestId("backup-done")).toHaveTextContent("Saved 120 messages (2.4 MB) and 12 media files (3.4 MB, beside it) to /home/me/Documents/");
    await fireEvent.click(screen.getByTestId("backup-with-media"));
    await fireEvent.click(screen.getByTestId("backup-now"));
    await waitFor(() => expect(m.calls).toContain("backupNow:false"));
    const card = new File(["market,marketing,utility\nIndia,0.0107,0.0014\nBrazil,abc,0.008\n"], "meta-usd.csv");
    await fireEvent.change(await screen.findByTestId("rates-file"), { target: { files: [card] } });
    const result = await screen.findByTestId("rates-result");
    expect(result).toHaveTextContent("1 prices imported (USD from");
    expect(result).toHaveTextContent("Line 3: a price is not a number");
  });
});

describe("Settings: the media folder", () => {
  it("caps the folder in GB, warns when downloads wait at the cap, and marks a No Storage number", async () => {
    const m = memoryBackend(NOW, { billing: report() });
    setBackend(m.backend);
    render(Settings, { now: NOW });
    const cap = await screen.findByTestId("media-cap");
    await fireEvent.input(cap, { target: { value: "-1" } });
    await fireEvent.click(screen.getByTestId("media-cap-save"));
    expect(await screen.findByRole("alert")).toHaveTextContent("a number of GB above 0");
    expect(m.calls.filter((c) => c.startsWith("setMediaPolicy"))).toHaveLength(0);
    // 3.4 MB are kept: a cap of 0,002 GB (2 MB) is already full.
    await fireEvent.input(cap, { target: { value: "0,002" } });
    await fireEvent.click(screen.getByTestId("media-cap-save"));
    expect(await screen.findByTestId("media-saved-policy")).toHaveTextContent("kept under 0.002 GB");
    expect(m.calls).toContain("setMediaPolicy:2000000:false");
    expect(await screen.findByTestId("media-at-cap")).toHaveTextContent("wait to be downloaded");
    await fireEvent.click(screen.getByTestId("media-no-storage"));
    await waitFor(() => expect(m.calls).toContain("setMediaPolicy:2000000:true"));
    expect(screen.getByTestId("media-at-cap")).toHaveTextContent("before Meta's hour is over");
  });
});

describe("Owner PIN in the window", () => {
  it("asks for the PIN the core requires, asks again when it is wrong, and goes on once right", async () => {
    forgetPin();
    const m = memoryBackend(NOW, { billing: report(), ownerPin: "4821" });
    setBackend(m.backend);
    render(PinPrompt);
    render(Settings, { now: NOW });
    await fireEvent.click(await screen.findByTestId("backup-now"));
    const dialog = await screen.findByTestId("pin-prompt");
    expect(dialog).toHaveTextContent("give the owner PIN");
    await fireEvent.input(screen.getByTestId("pin-input"), { target: { value: "0000" } });
    await fireEvent.submit(dialog.querySelector("form")!);
    await waitFor(() => expect(screen.getByTestId("pin-prompt")).toHaveTextContent("the owner PIN is not right"));
    await fireEvent.input(screen.getByTestId("pin-input"), { target: { value: "4821" } });
    await fireEvent.submit(screen.getByTestId("pin-prompt").querySelector("form")!);
    expect(await screen.findByTestId("backup-done")).toHaveTextContent("Saved 120 messages");
    expect(screen.queryByTestId("pin-prompt")).toBeNull();
    expect(m.calls.filter((c) => c.startsWith("pinRefused"))).toEqual(["pinRefused:", "pinRefused:0000"]);
    expect(m.calls.filter((c) => c.startsWith("backupNow"))).toHaveLength(1);
  });

  it("a cancelled PIN leaves the action undone and says so", async () => {
    forgetPin();
    const m = memoryBackend(NOW, { billing: report(), ownerPin: "4821" });
    setBackend(m.backend);
    render(PinPrompt);
    render(Settings, { now: NOW });
    await fireEvent.click(await screen.findByTestId("backup-now"));
    await fireEvent.keyDown(await screen.findByTestId("pin-prompt"), { key: "Escape" });
    await waitFor(() => expect(screen.queryByTestId("pin-prompt")).toBeNull());
    expect(await screen.findByText(/owner PIN was not given/)).toBeInTheDocument();
    expect(m.calls.some((c) => c.startsWith("backupNow"))).toBe(false);
  });
});

describe("Search", () => {
  it("finds messages as you type and opens the conversation picked", async () => {
    const m = memoryBackend(NOW);
    m.state.searchHits = [
      { message_id: 1, contact_id: 7, contact_name: "Priya", origin: "customer", timestamp: NOW - 60, snippet: "Is the blue kurta still available?" },
      { message_id: 2, contact_id: 8, contact_name: "Budi", origin: "phone", timestamp: NOW - 30, snippet: "Red kurta shipped" },
    ];
    setBackend(m.backend);
    let picked: number | null = null;
    render(Search, { now: NOW, onpick: (id: number) => (picked = id) });
    await fireEvent.input(screen.getByTestId("search-input"), { target: { value: "blue kurta" } });
    await waitFor(() => expect(screen.getAllByTestId("search-hit")).toHaveLength(1));
    await fireEvent.click(screen.getByTestId("search-hit"));
    expect(picked).toBe(7);
    await fireEvent.input(screen.getByTestId("search-input"), { target: { value: "green" } });
    expect(await screen.findByText(/No message contains/)).toBeInTheDocument();
  });
});

describe("Campaigns", () => {
  const base = { template: "spring_sale", stopped_reason: null, dispatching: 0, uncertain: 0, cancelled: 0, skipped: 0, delivered: 0, read: 0 };
  it("shows progress, pauses a running one, confirms a cancel, and estimates a draft's cost", async () => {
    const m = memoryBackend(NOW);
    m.state.campaigns = [
      { ...base, id: 2, name: "Sale", state: "running", total: 10, queued: 6, accepted: 3, failed: 1, delivered: 2 },
      { ...base, id: 1, name: "Draft one", state: "draft", total: 5, queued: 0, accepted: 0, failed: 0 },
    ];
    m.state.forecast = {
      campaign: 1, template: "spring_sale", category: "marketing", currency: "USD", recipients: 5, free: 1, total: "0.0472",
      by_market: {}, by_category: {}, assumes: "delivery", sample_rates: true,
      messaging_limit: 250, limit_recipients: 5, limit_left: 2, days: 2,
      pacing: "Meta lets this business reach 250 new customers per 24 hours with templates (its messaging limit), and 2 are left now.",
    };
    setBackend(m.backend);
    render(Campaigns);
    const counts = await screen.findAllByTestId("campaign-counts");
    expect(counts[0]).toHaveTextContent("3 sent · 2 delivered");
    expect(screen.getAllByRole("progressbar")[0]).toHaveAttribute("aria-valuenow", "4");
    await fireEvent.click(screen.getByText("Pause"));
    await waitFor(() => expect(m.calls).toContain("campaignAction:2:pause"));
    await waitFor(() => expect(screen.getAllByTestId("campaign-state")[0]).toHaveTextContent("Paused"));

    window.confirm = () => false;
    await fireEvent.click(screen.getAllByTestId("campaign-cancel")[1]);
    expect(m.calls.some((c) => c.startsWith("campaignAction:1"))).toBe(false);
    window.confirm = () => true;
    await fireEvent.click(screen.getByTestId("campaign-estimate"));
    expect(await screen.findByTestId("campaign-forecast")).toHaveTextContent("0.0472 USD for 5 recipients (1 free)");
    expect(screen.getByTestId("campaign-pacing")).toHaveTextContent("250 new customers per 24 hours");
  });

  it("offers no pause or cancel once every recipient has an outcome", async () => {
    const m = memoryBackend(NOW);
    m.state.campaigns = [
      { ...base, id: 5, name: "Done", state: "running", total: 3, queued: 0, accepted: 3, failed: 0, delivered: 3 },
    ];
    setBackend(m.backend);
    render(Campaigns);
    expect(await screen.findByTestId("campaign-state")).toHaveTextContent("Finished");
    expect(screen.queryByText("Pause")).toBeNull();
    expect(screen.queryByTestId("campaign-cancel")).toBeNull();
  });

  it("redraws on the core's events, not on a timer", async () => {
    const m = memoryBackend(NOW);
    m.state.campaigns = [
      { ...base, id: 4, name: "Live", state: "running", total: 4, queued: 4, accepted: 0, failed: 0 },
    ];
    setBackend(m.backend);
    render(Campaigns);
    expect(await screen.findByTestId("campaign-counts")).toHaveTextContent("0 sent");
    m.state.campaigns = [{ ...m.state.campaigns[0], queued: 1, accepted: 3, delivered: 2 }];
    m.emit({ kind: "campaign_progress", campaign_id: 4, accepted: 3, failed: 0, uncertain: 0, total: 4 });
    await waitFor(() => expect(screen.getByTestId("campaign-counts")).toHaveTextContent("3 sent · 2 delivered"), {
      timeout: 1000,
    });
  });

  it("offers resume and cancel on a campaign Meta stopped, and says who was skipped and why", async () => {
    const m = memoryBackend(NOW);
    m.state.campaigns = [
      { ...base, id: 3, name: "Stopped", state: "stopped", stopped_reason: "Meta's spam limit", total: 10, queued: 5,
        accepted: 3, failed: 0, skipped: 2, delivered: 3 },
    ];
    setBackend(m.backend);
    render(Campaigns);
    expect(await screen.findByTestId("campaign-counts")).toHaveTextContent("3 sent · 3 delivered · 0 read");
    expect(screen.getByTestId("campaign-counts")).toHaveTextContent("2 skipped · 5 waiting — of 10");
    expect(screen.getByRole("progressbar")).toHaveAttribute("aria-valuenow", "5");
    expect(screen.getByTestId("campaign-cancel")).toBeInTheDocument();
    await fireEvent.click(screen.getByText("Resume"));
    await waitFor(() => expect(m.calls).toContain("campaignAction:3:resume"));
  });
});
