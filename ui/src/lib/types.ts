// Shapes the shell sends; they mirror coexist-core's serde types (store::queries).

export type Origin = "customer" | "phone" | "api" | "history";

export interface ConversationRow {
  contact_id: number;
  display_name: string;
  wa_id: string | null;
  bsuid: string | null;
  vip: boolean;
  unread: number;
  last_message_at: number | null;
  last_text: string | null;
  last_type: string | null;
  last_origin: Origin | null;
  last_direction: "inbound" | "outbound" | null;
  last_revoked: boolean | null;
  service_window_open_until: number | null;
  automation_paused_until: number | null;
  assignee: string | null;
}

export type InboxFilter = "all" | "unread" | "vip" | "needs_reply" | "unassigned";

export interface Stats {
  contacts: { active: number; removed: number };
  messages: { customer: number; phone: number; api: number; history: number };
  journal: { received: number; applied: number; failed: number; skipped: number; pending: number };
  history: { state: "none" | "in_progress" | "complete" | "declined"; progress: number };
  link: "connected" | "dropped" | "offboarded";
  consent: { opted_out: number };
  reminders_open: number;
}

export interface WorkspaceInfo {
  label: string;
  demo: boolean;
  data_dir: string;
  now: number;
}

/** Errors come from the shell as `{code, message}`; `message` is written for a person. */
export interface BackendError {
  code: string;
  message: string;
}

export interface ThreadMessage {
  id: number;
  wamid: string;
  direction: "inbound" | "outbound";
  origin: Origin;
  type: string;
  text: string | null;
  media_id: string | null;
  media_mime: string | null;
  media_available: boolean;
  timestamp: number;
  status: "sent" | "delivered" | "read" | "played" | "failed" | null;
  edited: boolean;
  revoked: boolean;
  content_known: boolean;
  error: string | null;
  /** API messages: `desk`, `campaign`, `automation` or `follow_up`, and who sent it. */
  send_source: string | null;
  sent_by: string | null;
}

export interface Reminder {
  id: number;
  kind: string;
  urgency: "normal" | "urgent";
  title: string | null;
  detail: string | null;
  due_at: number;
  fired_at: number | null;
  acknowledged_at: number | null;
  cancelled_at: number | null;
  skipped: boolean;
}

/** Where the 14-day phone-app clock stands (core: reminders::HeartbeatStatus). */
export interface HeartbeatStatus {
  last_heartbeat: number | null;
  source: string | null;
  days_since: number | null;
  deadline_at: number | null;
  drop_expected_at: number | null;
  link_state: "connected" | "dropped" | "offboarded";
  link_reason: string | null;
  next_reminder: Reminder | null;
}

export interface CardInfo {
  id: number;
  currency: string;
  effective: string;
  source: string;
  sample: boolean;
}

/** A billing report (core: billing::Report); amounts are exact decimal strings. */
export interface BillingReport {
  currency: string;
  from: number;
  to: number;
  total: string;
  by_category: Record<string, string>;
  by_market: Record<string, string>;
  by_origin: Record<string, string>;
  by_month: Record<string, string>;
  savings: string;
  messages: { api: number; phone: number; charged: number; free: number };
  disagreements: { count: number; examples: { wamid: string; at: number; detail: string }[] };
  rate_cards: CardInfo[];
  sample_rates: boolean;
  service_charge_2026: boolean;
  policy_version: string;
}

export interface AuditEntry {
  seq: number;
  at: number;
  actor: string;
  action: string;
  subject: string | null;
  details: string;
}

export interface AuditLog {
  entries: AuditEntry[];
  verification: { entries: number; ok: boolean; breaks: { seq: number; problem: string }[] };
}

export interface OnboardingStatus {
  onboarded_at: number | null;
  sync_window_closes_at: number | null;
  sync_window_open: boolean;
  requests: { sync_type: string; intent_at: number; result: string | null }[];
  history_state: "none" | "in_progress" | "complete" | "declined";
  history_progress: number;
}

export interface AutomationVariant {
  keywords: string[];
  reply: string;
}

/** The owner's automation settings (core: automation::AutomationConfig). */
export interface AutomationConfig {
  enabled: boolean;
  max_age_minutes: number;
  takeover_pause_hours: number;
  business_hours: { utc_offset_minutes: number; days: Record<string, [string, string]>; away_message: Record<string, string>; away_every_hours: number } | null;
  greeting: Record<string, string>;
  faq: { name: string; variants: Record<string, AutomationVariant> }[];
  routing: { name: string; keywords: string[]; tag: string | null; assign: string | null; vip: boolean }[];
  follow_ups: { name: string; after_hours: number; template: string; language: string }[];
}

export interface AutomationDecision {
  reply: [string, string] | null;
  routes: string[];
  in_business_hours: boolean;
}

/** What replying now costs (core: billing::ReplyCost); `api` is null when the API cannot send it. */
export interface ReplyCost {
  currency: string;
  api: string | null;
  phone: string;
  window_open: boolean;
  pricing_type: string;
  explanation: string;
  sample_rates: boolean;
}
