export { AgentController, type AgentOptions } from './controller.js';
export { runAgent, type AgentFlags } from './main.js';
export { plan, type Action, type PlanInput, type PodView } from './plan.js';
