// Shapes the shell sends. Those from coexist-core are generated from the Rust types (ts-rs,
// `scripts/gen-types.sh`, checked for drift by `make test`), states included as unions; the
// shell's own few shapes are written by hand.
import type { HeaderMedia } from "../generated/HeaderMedia";
import type { AuditEntry } from "../generated/AuditEntry";
import type { OutboxRow } from "../generated/OutboxRow";
import type { SyncOutcome } from "../generated/SyncOutcome";
import type { SyncType } from "../generated/SyncType";
import type { OutboxState } from "../generated/OutboxState";
import type { AutomationConfig } from "../generated/AutomationConfig";
import type { CardInfo } from "../generated/CardInfo";
import type { ConversationRow } from "../generated/ConversationRow";
import type { Decision } from "../generated/Decision";
import type { HeartbeatStatus } from "../generated/HeartbeatStatus";
import type { VersionCheck } from "../generated/VersionCheck";
import type { OnboardingStatus } from "../generated/OnboardingStatus";
import type { Reminder } from "../generated/Reminder";
import type { ReplyCost } from "../generated/ReplyCost";
import type { SearchHit } from "../generated/SearchHit";
import type { CampaignStatus } from "../generated/CampaignStatus";
import type { CampaignForecast } from "../generated/CampaignForecast";
import type { Report } from "../generated/Report";
import type { Stats } from "../generated/Stats";
import type { ThreadMessage } from "../generated/ThreadMessage";
import type { Verification } from "../generated/Verification";
import type { TemplateInfo } from "../generated/TemplateInfo";
import type { ContactRow } from "../generated/ContactRow";
import type { ConsentEvent } from "../generated/ConsentEvent";
import type { ImportReport } from "../generated/ImportReport";
import type { ResponseReport } from "../generated/ResponseReport";
import type { CampaignRecipient } from "../generated/CampaignRecipient";

export type { OutboxRow, OutboxState, SyncOutcome, SyncType };
export type { AuditEntry, AutomationConfig, CampaignForecast, CampaignStatus, CardInfo, ReplyCost, SearchHit };
export type { TemplateInfo, ContactRow, ConsentEvent, ImportReport, ResponseReport, CampaignRecipient };
export type BillingReport = Report;
export type AutomationDecision = Decision;

export type { ConversationRow, Stats, ThreadMessage, Reminder, HeartbeatStatus, OnboardingStatus, VersionCheck };
export type { Origin } from "../generated/Origin";
export type { LinkState } from "../generated/LinkState";
export type { HistoryState } from "../generated/HistoryState";
export type { InboxFilter } from "../generated/InboxFilter";

/** The shell's `audit_log`: the newest entries and whether the chain verifies. */
export interface AuditLog {
  entries: AuditEntry[];
  verification: Verification;
}

/** The shell's `workspace_info`. */
export interface WorkspaceInfo {
  label: string;
  demo: boolean;
  data_dir: string;
  now: number;
}

/** Errors come from the shell as `{code, message}`; `message` is written for a person. */
/** `{code, message}` as the core sends it (`ErrorBody`), `meta_code` when Meta refused. */
export type BackendError = import("../generated/ErrorBody").ErrorBody;

/** The core's `engine_status`: whether messages can leave and webhooks arrive (generated). */
export type { EngineStatus } from "../generated/EngineStatus";

/** The core's `send_state` for one outbox row (generated). */
export type { SendState } from "../generated/SendState";
/** What `create_campaign` answers (generated). */
export type { CreatedCampaign } from "../generated/CreatedCampaign";

export interface ContactPage {
  total: number;
  rows: ContactRow[];
}

export type AudienceKind = "all" | "vip" | "opted_in" | "tag";

/** The campaign builder's draft, as `create_campaign` takes it. */
export interface NewCampaign {
  name: string;
  template: string;
  language: string;
  audience: AudienceKind;
  tag: string | null;
  params: [string, string][];
  scheduled_at: number | null;
  /** The uploaded picture, video or document for a template that shows one at its top. */
  header?: HeaderMedia | null;
}

/** The eligibility check, in lines an owner reads. */
export interface Eligibility {
  eligible: boolean;
  answers: string[];
  policy_version: string;
}

export interface ConnectForm {
  waba_id: string;
  phone_number_id: string;
  access_token: string;
  app_secret: string;
  verify_token: string;
}

/** What connecting found; secrets come back only as the names of those set. */
export interface ConnectResult {
  linked: boolean;
  /** Until when the once-only syncs can be requested (the core's onboarding time + 24 h). */
  sync_deadline: number | null;
  verified_name: string | null;
  display_number: string | null;
  problems: string[];
  secrets_set: string[];
  restart_needed: boolean;
}


/** A rate-card import: how many prices were kept, and each refused line. */
export interface RateImport {
  card_id: number | null;
  imported: number;
  rejected: { line: number; error: string }[];
}

export interface BackupInfo {
  path: string;
  bytes: number;
  messages: number;
  journal: number;
  media_files?: number;
  media_bytes?: number;
}
