// An in-memory Backend for component tests: the same shapes as the shell, held in plain objects,
// with a record of the calls made.
import type { MediaUsage } from "../generated/MediaUsage";
import type { Backend } from "./backend";
import { headerMedia } from "./templates";
import type { MediaPreview } from "../generated/MediaPreview";
import type { CoreEvent } from "../generated/CoreEvent";
import type {
  AuditLog,
  AutomationConfig,
  BillingReport,
  ConversationRow,
  HeartbeatStatus,
  VersionCheck,
  OnboardingStatus,
  ReplyCost,
  SearchHit,
  CampaignStatus,
  CampaignForecast,
  Stats,
  ThreadMessage,
  WorkspaceInfo,
  EngineStatus,
  TemplateInfo,
  ContactRow,
  ConsentEvent,
  ResponseReport,
  CampaignRecipient,
  NewCampaign,
  ConnectForm,
  Reminder,
  OutboxRow,
  SyncType,
} from "./types";

export const DAY = 86_400;

export function memoryBackend(now: number, over: Partial<MemoryState> = {}) {
  const state: MemoryState = {
    workspace: { label: "Test shop", demo: false, data_dir: "/tmp/ws", now },
    stats: {
      contacts: { active: 3, removed: 0 },
      messages: { customer: 10, phone: 4, api: 2, history: 100 },
      journal: { received: 20, sent_records: 0, applied: 20, failed: 0, skipped: 0, pending: 0 },
      history: { state: "complete", progress: 100 },
      link: "connected",
      consent: { opted_out: 1 },
      reminders_open: 0,
    },
    heartbeat: {
      last_heartbeat: now - 3 * DAY,
      source: "echo",
      days_since: 3,
      deadline_at: now + 10 * DAY,
      drop_expected_at: now + 11 * DAY,
      link_state: "connected",
      link_reason: null,
      next_reminder: null,
    },
    graphApi: { version: "v24.0", ends: "2027-10-08", estimated: true, days_left: 400, warning: null },
    billing: null,
    conversations: [],
    thread: [],
    media: {},
    autostart: false,
    searchHits: [],
    campaigns: [],
    forecast: null,
    replyCost: {
      currency: "USD",
      api: "0",
      phone: "0",
      window_open: true,
      pricing_type: "free_customer_service",
      explanation: "Free: the customer wrote within the last 24 hours.",
      sample_rates: false,
    },
    onboarding: {
      onboarded_at: now - 2 * 3600,
      sync_window_closes_at: now + 22 * 3600,
      sync_window_open: true,
      requests: [],
      history_state: "none",
      history_progress: 0,
    },
    automation: {
      enabled: true,
      max_age_minutes: 60,
      takeover_pause_hours: 12,
      business_hours: null,
      greeting: {},
      faq: [{ name: "hours", variants: { en: { keywords: ["open"], reply: "We open at 9." } } }],
      routing: [],
      follow_ups: [],
    },
    outbox: [],
    audit: { entries: [], verification: { entries: 0, ok: true, breaks: [], sealed: 0, key_available: true } },
    engine: { sending: true, receiver_url: "http://127.0.0.1:8787/webhook", notes: [], simulator: false, engine_elsewhere: null },
    templates: [
      { id: "1", name: "order_ready", language: "en", category: "UTILITY", status: "APPROVED",
        components: [{ type: "BODY", text: "Hi {{1}}, your order {{2}} is ready." }] },
      { id: "2", name: "weekend_offer", language: "en", category: "MARKETING", status: "APPROVED",
        components: [{ type: "BODY", text: "This weekend: {{1}} off everything!" }] },
      { id: "3", name: "draft_promo", language: "en", category: "MARKETING", status: "PENDING", components: [] },
    ],
    sends: [],
    sendOutcome: { state: "accepted", error: null },
    contacts: [],
    consent: {},
    responseReport: null,
    recipients: [],
    newCampaigns: [],
    connected: null,
    fail: null,
    ownerPin: null,
    mediaUsage: { files: 12, bytes: 3_400_000, pending: 1, missing: 2, cap_bytes: null, at_cap: false, no_storage: false },
    reminders: [],
    ...over,
  };
  const calls: string[] = [];
  const answer = async <T>(name: string, value: T): Promise<T> => {
    calls.push(name);
    if (state.fail) throw state.fail;
    return structuredClone(value);
  };
  /** What a stored template shows at its top, and how the core names it. */
  const headerOf = (name: string, language: string) => {
    const t = state.templates.find((x) => x.name === name && x.language === language);
    return t ? headerMedia(t) : null;
  };
  const word = (kind: string | null) => (kind === "image" ? "picture" : kind ?? "nothing");
  /** The core's owner rule: once a PIN is set, owner actions need it. */
  const owner = (pin: string | null | undefined) => {
    if (state.ownerPin === null || pin === state.ownerPin) return;
    calls.push(`pinRefused:${pin ?? ""}`);
    throw { code: "pin_required", message: pin ? "the owner PIN is not right" : "to back up the workspace, give the owner PIN" };
  };
  const listeners = new Set<(e: CoreEvent) => void>();
  /** What the core would announce: every view listening redraws. */
  const emit = (e: CoreEvent) => listeners.forEach((l) => l(e));
  const backend: Backend = {
    onCoreEvent: async (cb) => {
      listeners.add(cb);
      return () => listeners.delete(cb);
    },
    workspace: () => answer("workspace", state.workspace),
    stats: () => answer("stats", state.stats),
    conversations: (_l, _o, filter = "all") => answer(`conversations:${filter}`, state.conversations),
    setVip: async (id, vip) => {
      calls.push(`setVip:${id}:${vip}`);
      state.conversations = state.conversations.map((c) => (c.contact_id === id ? { ...c, vip } : c));
    },
    setAssignee: async (id, assignee) => {
      calls.push(`setAssignee:${id}:${assignee}`);
      state.conversations = state.conversations.map((c) => (c.contact_id === id ? { ...c, assignee } : c));
    },
    search: (text) =>
      answer(
        `search:${text}`,
        state.searchHits.filter((h) => text.toLowerCase().split(/\s+/).every((w) => h.snippet.toLowerCase().includes(w))),
      ),
    campaigns: () => answer("campaigns", state.campaigns),
    outbox: (st = null) => answer(`outbox:${st ?? "all"}`, state.outbox.filter((r) => st === null || r.state === st)),
    // The effect the core's answer would have on the rows shown; the rules (who may, what is
    // refused) are the core's and tested there.
    outboxResend: async (id, pin = null) => {
      owner(pin);
      state.outbox = state.outbox.map((r) => (r.id === id ? { ...r, state: "queued" } : r));
      return answer(`outboxResend:${id}`, undefined);
    },
    outboxCancel: async (id) => {
      state.outbox = state.outbox.map((r) => (r.id === id ? { ...r, state: "cancelled" } : r));
      return answer(`outboxCancel:${id}`, undefined);
    },
    outboxRelease: async (id, pin = null) => {
      owner(pin);
      const held = state.outbox.filter((r) => r.held_reason !== null && (id === null || r.id === id));
      state.outbox = state.outbox.map((r) => (held.includes(r) ? { ...r, held_reason: null } : r));
      return answer(`outboxRelease:${id ?? "all"}`, held.length);
    },
    campaignAction: async (id, action) => {
      calls.push(`campaignAction:${id}:${action}`);
      const to = ({ pause: "paused", resume: "running", cancel: "cancelled" } as const)[action];
      state.campaigns = state.campaigns.map((c) => (c.id === id ? { ...c, state: to } : c));
    },
    campaignForecast: (id) => {
      if (!state.forecast) throw { code: "internal", message: "no forecast in this test" };
      return answer(`campaignForecast:${id}`, state.forecast);
    },
    replyCost: (id, category) =>
      answer(`replyCost:${id}:${category}`, state.replyCost),
    autostart: () => answer("autostart", state.autostart),
    setAutostart: (enabled) => {
      state.autostart = enabled;
      return answer(`setAutostart:${enabled}`, enabled);
    },
    setAutomationPause: async (id, takeOver) => {
      calls.push(`setAutomationPause:${id}:${takeOver}`);
      // The core's default span (policy::DEFAULT_TAKE_OVER_HOURS).
      const until = takeOver ? now + 24 * 3600 : null;
      state.conversations = state.conversations.map((c) => (c.contact_id === id ? { ...c, automation_paused_until: until } : c));
      return until;
    },
    thread: () => answer("thread", state.thread),
    markRead: async (id: number) => {
      calls.push(`markRead:${id}`);
      state.conversations = state.conversations.map((c) => (c.contact_id === id ? { ...c, unread: 0 } : c));
    },
    openMedia: (id: number) => answer(`openMedia:${id}`, undefined),
    saveMediaCopy: (id: number) => answer(`saveMediaCopy:${id}`, `/home/me/Downloads/file-${id}.pdf`),
    mediaUsage: () => answer("mediaUsage", state.mediaUsage),
    setMediaPolicy: (capBytes: number | null, noStorage: boolean, pin?: string | null) => {
      owner(pin);
      state.mediaUsage = { ...state.mediaUsage, cap_bytes: capBytes, no_storage: noStorage,
        at_cap: capBytes !== null && state.mediaUsage.bytes >= capBytes };
      return answer(`setMediaPolicy:${capBytes}:${noStorage}`, state.mediaUsage);
    },
    mediaPreview: (id: number) => answer(`mediaPreview:${id}`, state.media[id] ?? null),
    heartbeat: () => answer("heartbeat", state.heartbeat),
    graphApi: () => answer("graphApi", state.graphApi),
    acknowledgeHeartbeat: () => {
      state.heartbeat = { ...state.heartbeat, last_heartbeat: now, source: "ack", days_since: 0, deadline_at: now + 13 * DAY };
      return answer("acknowledgeHeartbeat", state.heartbeat);
    },
    reminders: () => answer("reminders", state.reminders),
    billing: (from, to) => {
      if (!state.billing) throw { code: "internal", message: "no billing in this test" };
      return answer(`billing:${from}:${to}`, state.billing);
    },
    auditLog: () => answer("auditLog", state.audit),
    onboarding: () => answer("onboarding", state.onboarding),
    automationRules: () => answer("automationRules", state.automation),
    // A small stand-in for the core's matcher: whole-word keywords of the FAQ.
    automationTest: (text) => {
      const words = ` ${text.toLowerCase().replace(/[^\p{L}\p{N}]+/gu, " ")} `;
      const hit = state.automation.faq.find((f) =>
        Object.values(f.variants).some((v) => v.keywords.some((k) => words.includes(` ${k.toLowerCase()} `))),
      );
      const reply: [string, string] | null = hit ? [`faq:${hit.name}`, Object.values(hit.variants)[0].reply] : null;
      return answer("automationTest", { reply, routes: [], in_business_hours: true });
    },
    engine: () => answer("engine", state.engine),
    sendText: async (id: number, text: string) => {
      calls.push(`sendText:${id}:${text}`);
      if (state.fail) throw state.fail;
      const c = state.conversations.find((x) => x.contact_id === id);
      if (!c?.service_window_open_until || c.service_window_open_until <= now) {
        throw { code: "window_closed", message: "The 24-hour reply window with them is closed." };
      }
      state.sends.push({ kind: "text", contactId: id, text });
      return state.sends.length;
    },
    checkAttachment: async (mime: string, size: number, name: string) => {
      calls.push(`checkAttachment:${mime}:${size}`);
      const limit = mime.startsWith("image/") ? 5 * 1024 * 1024 : 100 * 1024 * 1024;
      if (size > limit) {
        throw { code: "cannot_send", message: `This file (${name}) is ${Math.round(size / 1048576)} MB; WhatsApp accepts up to ${limit / 1048576} MB for this kind of file.` };
      }
      return mime.startsWith("image/") ? "image" : "document";
    },
    sendMedia: async (id: number, file: { name: string; mime: string; bytes: Uint8Array }, caption: string | null) => {
      calls.push(`sendMedia:${id}:${file.name}:${file.mime}:${file.bytes.length}:${caption ?? ""}`);
      if (state.fail) throw state.fail;
      state.sends.push({ kind: "media", contactId: id, text: caption ?? file.name });
      return state.sends.length;
    },
    sendTemplate: async (id: number, name: string, language: string, params: [string, string][]) => {
      calls.push(`sendTemplate:${id}:${name}:${language}:${params.map((p) => p.join("=")).join(",")}`);
      if (state.fail) throw state.fail;
      state.sends.push({ kind: "template", contactId: id, text: name });
      return state.sends.length;
    },
    uiReady: (n: number) => answer(`uiReady:${n}`, undefined),
    checkEligibility: (number: string, appVersion: string | null) => {
      const digits = number.replace(/\D/g, "");
      if (digits.length < 8) throw { code: "invalid", message: `'${number}' is not a full phone number` };
      const oldApp = appVersion !== null && appVersion < "2.24.17";
      return answer(`checkEligibility:${digits}:${appVersion}`, {
        eligible: !digits.startsWith("7") && !oldApp,
        answers: [
          digits.startsWith("7") ? "This country cannot use coexistence yet." : "Your country can use coexistence.",
          oldApp ? "Update the WhatsApp Business app to 2.24.17 or later." : "Your app version is fine.",
        ],
        policy_version: "test",
      });
    },
    connectNumber: (form: ConnectForm) => {
      const set = (["access_token", "app_secret", "verify_token"] as const).filter((k) => form[k].trim() !== "");
      state.connected = { ...form };
      return answer("connectNumber", {
        linked: set.length === 3, sync_deadline: now + 24 * 3600, verified_name: "Test Shop", display_number: "+44 7700 900000",
        problems: set.length === 3 ? [] : ["The verify token is still missing."], secrets_set: [...set], restart_needed: true,
      });
    },
    requestSync: (kind: SyncType) => {
      const apiName = kind === "contacts" ? "smb_app_state_sync" : "history";
      state.onboarding.requests = [...state.onboarding.requests, { sync_type: apiName, intent_at: now, result: "accepted" }];
      return answer(`requestSync:${kind}`, { sync_type: kind, request_id: "r1", result: "accepted", message: `The ${kind} sync was requested.` });
    },
    restart: () => answer("restart", undefined),
    importRateCard: (csv: string, currency: string, effective: string, name: string) => {
      const rows = csv.trim().split("\n").slice(1);
      const rejected = rows.flatMap((r, i) => (r.split(",").slice(1).every((p) => /^\d*\.?\d*$/.test(p.trim())) ? [] : [{ line: i + 2, error: "a price is not a number" }]));
      return answer(`importRateCard:${currency}:${effective}:${name}`, { card_id: 1, imported: rows.length - rejected.length, rejected });
    },
    setServiceAllowance: (enabled: boolean, pin?: string | null) => {
      owner(pin);
      if (state.billing) state.billing = { ...state.billing, service_allowance: enabled ? 1000 : null };
      return answer(`setServiceAllowance:${enabled}`, undefined);
    },
    backupNow: (pin?: string | null, withMedia = true) => (
      owner(pin),
      answer(`backupNow:${withMedia}`, {
        path: "/home/me/Documents/coexist-backup-20261122-101500.sqlite3", bytes: 2_400_000, messages: 120, journal: 80,
        media_files: withMedia ? 12 : 0, media_bytes: withMedia ? 3_400_000 : 0,
      })
    ),
    exportBilling: (from: number, to: number, label: string) => answer(`exportBilling:${from}:${to}`, `/home/me/Downloads/coexist-billing-${label}.csv`),
    sendState: (id: number) => answer(`sendState:${id}`, state.sendOutcome),
    templates: (refresh = false) => answer(`templates:${refresh}`, state.templates),
    createTemplate: (name: string, language: string, category: string, body: string) => {
      const t: TemplateInfo = { id: String(state.templates.length + 1), name, language, category, status: "PENDING",
        components: [{ type: "BODY", text: body }] };
      state.templates = [...state.templates, t];
      return answer(`createTemplate:${name}`, t);
    },
    // The core's rules: the file must be what the template shows at its top, and a template
    // that shows one needs it.
    campaignHeader: async (template: string, language: string, file: { name: string; mime: string; bytes: Uint8Array }) => {
      calls.push(`campaignHeader:${file.name}:${file.mime}:${file.bytes.length}`);
      const kind = file.mime.startsWith("image/") ? "image" : file.mime.startsWith("video/") ? "video" : "document";
      const wanted = headerOf(template, language);
      if (wanted !== kind) {
        throw { code: "invalid", message: `template ${template} (${language}) shows a ${word(wanted)} at its top; ${file.name} is not one` };
      }
      return { kind, media_id: "hm-1", filename: kind === "document" ? file.name : null };
    },
    createCampaign: (c: NewCampaign) => {
      const wanted = headerOf(c.template, c.language);
      if (wanted && !c.header) {
        throw { code: "cannot_send", message: `template ${c.template} (${c.language}) shows a ${word(wanted)} at its top: choose the file to send with it` };
      }
      state.newCampaigns.push(c);
      const id = 100 + state.newCampaigns.length;
      state.campaigns = [...state.campaigns, { id, name: c.name, template: c.template, state: "draft", stopped_reason: null,
        total: 3, queued: 0, dispatching: 0, accepted: 0, failed: 0, uncertain: 0, cancelled: 0, skipped: 0, delivered: 0, read: 0 }];
      return answer("createCampaign", { id, recipients: 3 });
    },
    launchCampaign: (id: number) => {
      state.campaigns = state.campaigns.map((c) => (c.id === id ? { ...c, state: "running", queued: c.total } : c));
      return answer(`launchCampaign:${id}`, 3);
    },
    campaignRecipients: (id: number) => answer(`campaignRecipients:${id}`, state.recipients),
    demoCustomerWrites: (id: number) => answer(`demoCustomerWrites:${id}`, undefined),
    contacts: (query: string, limit: number, offset: number) => {
      const q = query.trim().toLowerCase();
      const hits = state.contacts.filter((c) => !q || c.display_name.toLowerCase().includes(q) || (c.wa_id ?? "").includes(q) || c.tags.includes(q));
      return answer(`contacts:${q}:${offset}`, { total: hits.length, rows: hits.slice(offset, offset + limit) });
    },
    consentHistory: (id: number) => answer(`consentHistory:${id}`, state.consent[id] ?? []),
    setTags: async (id: number, tags: string[]) => {
      calls.push(`setTags:${id}:${tags.join("|")}`);
      state.contacts = state.contacts.map((c) => (c.id === id ? { ...c, tags: JSON.stringify(tags) } : c));
    },
    setConsent: async (id: number, optIn: boolean, note: string) => {
      calls.push(`setConsent:${id}:${optIn}`);
      const kind = optIn ? "opt_in" : "opt_out";
      state.consent[id] = [{ kind, source: "manual", detail: note || null, at: now }, ...(state.consent[id] ?? [])];
      state.contacts = state.contacts.map((c) => (c.id === id ? { ...c, consent: kind } : c));
    },
    importContacts: async (csv: string) => {
      calls.push("importContacts");
      // Enough of the core's rules for the view's states: a phone column, digits per row.
      const lines = csv.trim().split("\n");
      const errors = lines.slice(1).flatMap((l, i) => (/\d{7,}/.test(l.replace(/[^\d,]/g, "")) ? [] : [{ line: i + 2, message: `${JSON.stringify(l.split(",")[0])} is not a phone number` }]));
      return { created: lines.length - 1 - errors.length, updated: 0, errors };
    },
    responseReport: (from: number, to: number) => {
      if (!state.responseReport) throw { code: "internal", message: "no report in this test" };
      return answer(`responseReport:${from}:${to}`, state.responseReport);
    },
  };
  return { backend, state, calls, emit };
}

export interface MemoryState {
  reminders: Reminder[];
  workspace: WorkspaceInfo;
  stats: Stats;
  heartbeat: HeartbeatStatus;
  graphApi: VersionCheck;
  billing: BillingReport | null;
  conversations: ConversationRow[];
  thread: ThreadMessage[];
  media: Record<number, MediaPreview>;
  autostart: boolean;
  searchHits: SearchHit[];
  campaigns: CampaignStatus[];
  forecast: CampaignForecast | null;
  replyCost: ReplyCost;
  onboarding: OnboardingStatus;
  automation: AutomationConfig;
  audit: AuditLog;
  engine: EngineStatus;
  templates: TemplateInfo[];
  sends: { kind: "text" | "template" | "media"; contactId: number; text: string }[];
  sendOutcome: { state: "accepted" | "failed" | "queued"; error: string | null };
  contacts: ContactRow[];
  consent: Record<number, ConsentEvent[]>;
  responseReport: ResponseReport | null;
  recipients: CampaignRecipient[];
  newCampaigns: NewCampaign[];
  connected: ConnectForm | null;
  fail: { code: string; message: string } | null;
  /** The owner PIN the core would check (null: none set). */
  ownerPin: string | null;
  mediaUsage: MediaUsage;
  outbox: OutboxRow[];
}
