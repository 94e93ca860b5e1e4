export { AgentController, type AgentOptions } from './controller.js';
export { retentionFromFlags, runAgent, type AgentFlags } from './main.js';
export { plan, type Action, type PlanInput, type PodView } from './plan.js';
export { DEFAULT_RETENTION, decideRetention, resolveLimit, type RetentionDecision } from './retention.js';
