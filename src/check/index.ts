// The public surface of src/check: the linearizability checker and history tools.
export { HistoryError } from "./errors.js";
export {
  checkOperations,
  describeOperation,
  type CheckOptions,
  type LinearizabilityResult,
  type Model,
  type Operation,
  type StepResult,
  type Verdict,
} from "./linearizability.js";
export {
  checkKvHistory,
  kvRegisterModel,
  validateHistoryOp,
  type HistoryOp,
  type KvCheckOptions,
  type KvCheckResult,
  type KvInput,
  type KvKeyResult,
  type KvOutcome,
  type KvOutput,
  type KvState,
} from "./kv-model.js";
export { parseJepsenEtcdLog, type JepsenParseOptions } from "./jepsen.js";
export { historyFromJsonl, historyOpToJson, historyToJsonl, loadHistory, saveHistory } from "./history.js";
