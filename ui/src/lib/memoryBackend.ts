// An in-memory Backend for component tests: the same shapes as the shell, held in plain objects,
// with a record of the calls made.
import type { Backend } from "./backend";
import type {
  AuditLog,
  AutomationConfig,
  BillingReport,
  ConversationRow,
  HeartbeatStatus,
  OnboardingStatus,
  ReplyCost,
  SearchHit,
  CampaignStatus,
  CampaignForecast,
  Stats,
  ThreadMessage,
  WorkspaceInfo,
} from "./types";

export const DAY = 86_400;

export function memoryBackend(now: number, over: Partial<MemoryState> = {}) {
  const state: MemoryState = {
    workspace: { label: "Test shop", demo: false, data_dir: "/tmp/ws", now },
    stats: {
      contacts: { active: 3, removed: 0 },
      messages: { customer: 10, phone: 4, api: 2, history: 100 },
      journal: { received: 20, applied: 20, failed: 0, skipped: 0, pending: 0 },
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
    billing: null,
    conversations: [],
    thread: [],
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
    audit: { entries: [], verification: { entries: 0, ok: true, breaks: [] } },
    fail: null,
    ...over,
  };
  const calls: string[] = [];
  const answer = async <T>(name: string, value: T): Promise<T> => {
    calls.push(name);
    if (state.fail) throw state.fail;
    return structuredClone(value);
  };
  const backend: Backend = {
    workspace: () => answer("workspace", state.workspace),
    stats: () => answer("stats", state.stats),
    conversations: (_l, _o, filter = "all") => answer(`conversations:${filter}`, state.conversations),
    setVip: async (id, vip) => {
      calls.push(`setVip:${id}:${vip}`);
      state.conversations = state.conversations.map((c) => (c.contact_id === id ? { ...c, vip } : c));
    },
    search: (text) =>
      answer(
        `search:${text}`,
        state.searchHits.filter((h) => text.toLowerCase().split(/\s+/).every((w) => h.snippet.toLowerCase().includes(w))),
      ),
    campaigns: () => answer("campaigns", state.campaigns),
    campaignAction: async (id, action) => {
      calls.push(`campaignAction:${id}:${action}`);
      const to = { pause: "paused", resume: "running", cancel: "cancelled" }[action];
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
    setAutomationPause: async (id, hours) => {
      calls.push(`setAutomationPause:${id}:${hours}`);
      const until = hours === null ? null : now + hours * 3600;
      state.conversations = state.conversations.map((c) => (c.contact_id === id ? { ...c, automation_paused_until: until } : c));
    },
    thread: () => answer("thread", state.thread),
    heartbeat: () => answer("heartbeat", state.heartbeat),
    acknowledgeHeartbeat: () => {
      state.heartbeat = { ...state.heartbeat, last_heartbeat: now, source: "ack", days_since: 0, deadline_at: now + 13 * DAY };
      return answer("acknowledgeHeartbeat", state.heartbeat);
    },
    reminders: () => answer("reminders", []),
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
  };
  return { backend, state, calls };
}

export interface MemoryState {
  workspace: WorkspaceInfo;
  stats: Stats;
  heartbeat: HeartbeatStatus;
  billing: BillingReport | null;
  conversations: ConversationRow[];
  thread: ThreadMessage[];
  autostart: boolean;
  searchHits: SearchHit[];
  campaigns: CampaignStatus[];
  forecast: CampaignForecast | null;
  replyCost: ReplyCost;
  onboarding: OnboardingStatus;
  automation: AutomationConfig;
  audit: AuditLog;
  fail: { code: string; message: string } | null;
}
