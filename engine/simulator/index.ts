/** The SMSC simulator (demo, tests, benchmarks). */
export { SmscSimulator, SIMULATOR_DEFAULTS } from './smsc-simulator.js';
export type { SmscSimulatorOptions, SimulatorStats, CapturedSubmit, Outcome, OutcomeWeights, Range } from './smsc-simulator.js';
