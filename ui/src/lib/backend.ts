// The one way the UI talks to the core. Views use `getBackend()`; the app installs the Tauri
// implementation, component tests an in-memory one (memoryBackend.ts).
import { invoke } from "@tauri-apps/api/core";
import { listen } from "@tauri-apps/api/event";
import type { CoreEvent } from "../generated/CoreEvent";
import type { CampaignAction } from "../generated/CampaignAction";
import type { MediaPreview } from "../generated/MediaPreview";
import type { MediaUsage } from "../generated/MediaUsage";
import type { HeaderMedia } from "../generated/HeaderMedia";

/** What a demo customer can send besides text (the simulator makes the file). */
export type DemoAttachment = "photo" | "voice" | "document";
import type {
  OutboxRow,
  OutboxState,
  InboxFilter,
  ReplyCost,
  SearchHit,
  CampaignStatus,
  CampaignForecast,
  AuditLog,
  AutomationConfig,
  AutomationDecision,
  OnboardingStatus,
  BackendError,
  BillingReport,
  ConversationRow,
  HeartbeatStatus,
  VersionCheck,
  Reminder,
  Stats,
  ThreadMessage,
  WorkspaceInfo,
  EngineStatus,
  SendState,
  CreatedCampaign,
  TemplateInfo,
  ContactPage,
  ConsentEvent,
  ImportReport,
  ResponseReport,
  CampaignRecipient,
  NewCampaign,
  Eligibility,
  ConnectForm,
  ConnectResult,
  SyncOutcome,
  SyncType,
  RateImport,
  BackupInfo,
} from "./types";

/** Who "me" is at this desk (the shell acts as the owner). */
export const DESK_USER = "owner";

export interface Backend {
  workspace(): Promise<WorkspaceInfo>;
  stats(): Promise<Stats>;
  conversations(limit?: number, offset?: number, filter?: InboxFilter): Promise<ConversationRow[]>;
  setVip(contactId: number, vip: boolean): Promise<void>;
  setAssignee(contactId: number, assignee: string | null): Promise<void>;
  search(text: string): Promise<SearchHit[]>;
  campaigns(): Promise<CampaignStatus[]>;
  campaignAction(id: number, action: CampaignAction): Promise<void>;
  /** The outbox (every row, or one state's). */
  outbox(state?: OutboxState | null): Promise<OutboxRow[]>;
  /** Sends an uncertain message again; the owner confirmed it may arrive twice. */
  outboxResend(id: number, pin?: string | null): Promise<void>;
  outboxCancel(id: number): Promise<void>;
  /** Lets one held message (or all, with `null`) go out; resolves to how many. */
  outboxRelease(id: number | null, pin?: string | null): Promise<number>;
  campaignForecast(id: number, pin?: string | null): Promise<CampaignForecast>;
  replyCost(contactId: number, templateCategory: string | null): Promise<ReplyCost>;
  autostart(): Promise<boolean>;
  setAutostart(enabled: boolean): Promise<boolean>;
  /** Take a chat by hand (for the core's default span) or hand it back; resolves to until when. */
  setAutomationPause(contactId: number, takeOver: boolean): Promise<number | null>;
  thread(contactId: number, before?: number | null, limit?: number): Promise<ThreadMessage[]>;
  /** The desk has seen the chat: its unread count goes to zero. */
  markRead(contactId: number): Promise<void>;
  /** Saves a copy of a message's file into Downloads; resolves to where it went. */
  saveMediaCopy(messageId: number): Promise<string>;
  /** Opens the message's file in the app the OS picks for it. */
  openMedia(messageId: number): Promise<void>;
  /** The disk the workspace's media takes. */
  mediaUsage(): Promise<MediaUsage>;
  /** The media folder's cap in bytes (null: none) and the No Storage window; owner only. */
  setMediaPolicy(capBytes: number | null, noStorage: boolean, pin?: string | null): Promise<MediaUsage>;
  /** A message's stored media (a picture inline) or why it is missing. */
  mediaPreview(messageId: number): Promise<MediaPreview | null>;
  heartbeat(): Promise<HeartbeatStatus>;
  /** The Graph API version in use, with a warning in its last 90 days. */
  graphApi(): Promise<VersionCheck>;
  acknowledgeHeartbeat(): Promise<HeartbeatStatus>;
  reminders(): Promise<Reminder[]>;
  billing(from: number, to: number, pin?: string | null): Promise<BillingReport>;
  auditLog(pin?: string | null): Promise<AuditLog>;
  onboarding(): Promise<OnboardingStatus>;
  automationRules(): Promise<AutomationConfig>;
  automationTest(text: string, firstContact: boolean): Promise<AutomationDecision>;
  engine(): Promise<EngineStatus>;
  /** The first page of the inbox is on screen (the shell logs the startup time). */
  uiReady(conversations: number): Promise<void>;
  sendText(contactId: number, text: string): Promise<number>;
  /** Whether WhatsApp takes this file (type, size); resolves to the message kind, or rejects in words. */
  checkAttachment(mime: string, size: number, name: string): Promise<string>;
  /** Sends a file (with an optional caption) inside the 24-hour window; resolves to the outbox row. */
  sendMedia(contactId: number, file: Outgoing, caption: string | null): Promise<number>;
  sendTemplate(contactId: number, name: string, language: string, params: [string, string][]): Promise<number>;
  sendState(id: number): Promise<SendState>;
  templates(refresh?: boolean): Promise<TemplateInfo[]>;
  createTemplate(name: string, language: string, category: string, body: string): Promise<TemplateInfo>;
  /** Uploads the picture, video or document a campaign's template shows at its top. */
  campaignHeader(template: string, language: string, file: Outgoing): Promise<HeaderMedia>;
  createCampaign(c: NewCampaign): Promise<CreatedCampaign>;
  launchCampaign(id: number): Promise<number>;
  campaignRecipients(id: number): Promise<CampaignRecipient[]>;
  demoCustomerWrites(contactId: number, text: string, attach?: DemoAttachment): Promise<void>;
  contacts(query: string, limit: number, offset: number): Promise<ContactPage>;
  consentHistory(contactId: number): Promise<ConsentEvent[]>;
  setTags(contactId: number, tags: string[]): Promise<void>;
  setConsent(contactId: number, optIn: boolean, note: string): Promise<void>;
  importContacts(csv: string): Promise<ImportReport>;
  responseReport(from: number, to: number, utcOffsetSecs: number): Promise<ResponseReport>;
  checkEligibility(number: string, appVersion: string | null): Promise<Eligibility>;
  connectNumber(form: ConnectForm, pin?: string | null): Promise<ConnectResult>;
  requestSync(kind: SyncType): Promise<SyncOutcome>;
  restart(): Promise<void>;
  /** Writes the period's ledger as CSV to the Downloads folder; returns the file's path. */
  exportBilling(from: number, to: number, label: string, pin?: string | null): Promise<string>;
  importRateCard(csv: string, currency: string, effective: string, name: string, pin?: string | null): Promise<RateImport>;
  /** Counts the partner-reported monthly allowance of free service messages (owner only). */
  setServiceAllowance(enabled: boolean, pin?: string | null): Promise<void>;
  /** A backup in Documents; with the media files too unless `withMedia` is false. */
  backupNow(pin?: string | null, withMedia?: boolean): Promise<BackupInfo>;
  /** Calls `cb` with each event the core announces; resolves to the function that stops it. */
  onCoreEvent(cb: (e: CoreEvent) => void): Promise<() => void>;
}

/** A file picked or dropped in the compose box. */
export interface Outgoing {
  name: string;
  mime: string;
  bytes: Uint8Array;
}

/** A picked file's bytes, read only to send (FileReader works in every webview and in the tests' DOM). */
export function fileBytes(f: File): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const r = new FileReader();
    r.onload = () => resolve(new Uint8Array(r.result as ArrayBuffer));
    r.onerror = () => reject({ code: "invalid", message: `${f.name} could not be read.` });
    r.readAsArrayBuffer(f);
  });
}

/** Calls a command whose body is a file's raw bytes; `meta` (what the file is) goes in a header. */
async function withFile<T>(cmd: string, file: Outgoing, meta: Record<string, unknown>): Promise<T> {
  const header = encodeURIComponent(JSON.stringify({ ...meta, name: file.name, mime: file.mime }));
  try {
    return await invoke<T>(cmd, file.bytes, { headers: { "x-meta": header } });
  } catch (e) {
    const err = e as Partial<BackendError>;
    throw { code: err?.code ?? "internal", message: err?.message ?? String(e), meta_code: err?.meta_code } satisfies BackendError;
  }
}

async function call<T>(cmd: string, args?: Record<string, unknown>): Promise<T> {
  try {
    return await invoke<T>(cmd, args);
  } catch (e) {
    const err = e as Partial<BackendError>;
    throw {
      code: err?.code ?? "internal",
      message: err?.message ?? String(e),
      meta_code: err?.meta_code,
    } satisfies BackendError;
  }
}

export const tauriBackend: Backend = {
  onCoreEvent: (cb) => listen<CoreEvent>("core-event", (e) => cb(e.payload)),
  workspace: () => call<WorkspaceInfo>("workspace_info"),
  stats: () => call<Stats>("stats"),
  conversations: (limit = 100, offset = 0, filter = "all") =>
    // "Mine": the window acts as the owner until desk profiles are chosen in the app.
    call<ConversationRow[]>("list_conversations", { limit, offset, filter, assignee: filter === "mine" ? DESK_USER : null }),
  setVip: (contactId, vip) => call<void>("set_vip", { contactId, vip }),
  setAssignee: (contactId, assignee) => call<void>("set_assignee", { contactId, assignee }),
  search: (text) => call<SearchHit[]>("search", { text }),
  campaigns: () => call<CampaignStatus[]>("campaigns"),
  campaignAction: (id, action) => call<void>("campaign_action", { id, action }),
  outbox: (state = null) => call<OutboxRow[]>("outbox_list", { state }),
  outboxResend: (id, pin = null) => call<void>("outbox_resend", { id, confirmed: true, pin }),
  outboxCancel: (id) => call<void>("outbox_cancel", { id }),
  outboxRelease: (id, pin = null) => call<number>("outbox_release", { id, pin }),
  campaignForecast: (id, pin = null) => call<CampaignForecast>("campaign_forecast", { id, pin }),
  replyCost: (contactId, templateCategory) => call<ReplyCost>("reply_cost", { contactId, templateCategory }),
  autostart: () => call<boolean>("autostart"),
  setAutostart: (enabled) => call<boolean>("set_autostart", { enabled }),
  setAutomationPause: (contactId, takeOver) => call<number | null>("set_automation_pause", { contactId, takeOver }),
  thread: (contactId, before = null, limit = 100) => call<ThreadMessage[]>("thread", { contactId, before, limit }),
  markRead: (contactId) => call<void>("mark_read", { contactId }),
  mediaPreview: (messageId) => call<MediaPreview | null>("media_preview", { messageId }),
  mediaUsage: () => call<MediaUsage>("media_usage"),
  setMediaPolicy: (capBytes, noStorage, pin = null) => call<MediaUsage>("set_media_policy", { capBytes, noStorage, pin }),
  saveMediaCopy: (messageId) => call<string>("save_media_copy", { messageId }),
  openMedia: (messageId) => call<void>("open_media", { messageId }),
  heartbeat: () => call<HeartbeatStatus>("heartbeat_status"),
  graphApi: () => call<VersionCheck>("graph_api"),
  acknowledgeHeartbeat: () => call<HeartbeatStatus>("acknowledge_heartbeat"),
  reminders: () => call<Reminder[]>("reminders"),
  billing: (from, to, pin = null) => call<BillingReport>("billing_summary", { from, to, pin }),
  auditLog: (pin = null) => call<AuditLog>("audit_log", { pin }),
  onboarding: () => call<OnboardingStatus>("onboarding_status"),
  automationRules: () => call<AutomationConfig>("automation_rules"),
  automationTest: (text, firstContact) => call<AutomationDecision>("automation_test", { text, firstContact }),
  engine: () => call<EngineStatus>("engine_status"),
  uiReady: (conversations) => call<void>("ui_ready", { conversations }),
  sendText: (contactId, text) => call<number>("send_text", { contactId, text }),
  checkAttachment: (mime, size, name) => call<string>("check_attachment", { mime, size, name }),
  // The bytes go as the raw body (no JSON array of numbers); what they are goes in a header.
  sendMedia: (contactId, file, caption) => withFile<number>("send_media", file, { contactId, caption }),
  campaignHeader: (template, language, file) => withFile<HeaderMedia>("campaign_header", file, { template, language }),
  sendTemplate: (contactId, name, language, params) => call<number>("send_template", { contactId, name, language, params }),
  sendState: (id) => call<SendState>("send_state", { id }),
  templates: (refresh = false) => call<TemplateInfo[]>(refresh ? "refresh_templates" : "templates"),
  createTemplate: (name, language, category, body) => call<TemplateInfo>("create_template", { name, language, category, body }),
  createCampaign: (campaign) => call<CreatedCampaign>("create_campaign", { campaign }),
  launchCampaign: (id) => call<number>("launch_campaign", { id }),
  campaignRecipients: (id) => call<CampaignRecipient[]>("campaign_recipients", { id }),
  demoCustomerWrites: (contactId, text, attach) => call<void>("demo_customer_writes", { contactId, text, attach: attach ?? null }),
  contacts: (query, limit, offset) => call<ContactPage>("contacts", { query, limit, offset }),
  consentHistory: (contactId) => call<ConsentEvent[]>("consent_history", { contactId }),
  setTags: (contactId, tags) => call<void>("set_tags", { contactId, tags }),
  setConsent: (contactId, optIn, note) => call<void>("set_consent", { contactId, optIn, note }),
  importContacts: (csv) => call<ImportReport>("import_contacts", { csv }),
  responseReport: (from, to, utcOffsetSecs) => call<ResponseReport>("response_report", { from, to, utcOffsetSecs }),
  checkEligibility: (number, appVersion) => call<Eligibility>("check_eligibility", { number, appVersion }),
  connectNumber: (form, pin = null) => call<ConnectResult>("connect_number", { form, pin }),
  requestSync: (kind) => call<SyncOutcome>("request_sync", { kind }),
  restart: () => call<void>("restart_app"),
  exportBilling: (from, to, label, pin = null) => call<string>("export_billing_csv", { from, to, label, pin }),
  importRateCard: (csv, currency, effective, name, pin = null) =>
    call<RateImport>("import_rate_card", { csv, currency, effective, name, pin }),
  backupNow: (pin = null, withMedia = true) => call<BackupInfo>("backup_now", { pin, withMedia }),
  setServiceAllowance: (enabled, pin = null) => call<void>("set_service_allowance", { enabled, pin }),
};

let current: Backend = tauriBackend;

/** Asks the owner for the PIN (the App installs a dialog); null when they cancel. */
type PinPrompt = (reason: string) => Promise<string | null>;
let askPin: PinPrompt = async () => null;
export function setPinPrompt(p: PinPrompt) {
  askPin = p;
}

/** A PIN the core accepted stays usable for a few minutes, so a run of owner actions asks once. */
const PIN_KEPT_MS = 5 * 60_000;
let kept: { pin: string; until: number } | null = null;
export function forgetPin() {
  kept = null;
}
/** The PIN given a few minutes ago, if any: views that load by themselves try it without asking. */
export function keptPin(): string | null {
  return kept && kept.until > Date.now() ? kept.pin : null;
}

/**
 * Runs an owner-only action. The core decides whether a PIN is needed (`pin_required`); the
 * owner is then asked, and a wrong PIN asks again, until it is accepted or they cancel.
 */
export async function asOwner<T>(act: (pin: string | null) => Promise<T>): Promise<T> {
  let pin = kept && kept.until > Date.now() ? kept.pin : null;
  for (;;) {
    try {
      const out = await act(pin);
      if (pin !== null) kept = { pin, until: Date.now() + PIN_KEPT_MS };
      return out;
    } catch (e) {
      const err = e as BackendError;
      if (err?.code !== "pin_required") throw e;
      kept = null;
      pin = await askPin(err.message);
      if (pin === null) throw { code: "pin_required", message: "Cancelled: the owner PIN was not given." } satisfies BackendError;
    }
  }
}

export function getBackend(): Backend {
  return current;
}

/** Tests swap in an in-memory backend. */
export function setBackend(b: Backend) {
  current = b;
}

/** Kept for the existing views. */
export const backend = {
  workspace: () => current.workspace(),
  stats: () => current.stats(),
  conversations: (limit = 100, offset = 0, filter: InboxFilter = "all") => current.conversations(limit, offset, filter),
  thread: (contactId: number, before: number | null = null, limit = 100) => current.thread(contactId, before, limit),
  markRead: (contactId: number) => current.markRead(contactId),
};
