/**
 * One error taxonomy for Switchyard. Every error a caller may act on carries a
 * stable `code` (documented in README.md, "Error codes"); callers branch on the
 * code or on the class (retryable vs permanent), never on the message text.
 * Adapted from undici's UND_ERR_* and BullMQ's UnrecoverableError split.
 */
export type ErrorCode =
  // client-facing (WebSocket / HTTP nack and error frames)
  | 'BAD_FRAME'
  | 'FRAME_TOO_LARGE'
  | 'UNKNOWN_OP'
  | 'INVALID_FIELD'
  | 'INVALID_NUMBER'
  | 'INVALID_TEXT'
  | 'MESSAGE_TOO_LONG'
  | 'NO_ROUTE'
  | 'THROTTLED'
  | 'UNAUTHORIZED'
  | 'UNAVAILABLE'
  // durability on a Redis Cluster (issue 13): accepted by the primary, not confirmed by redis.waitReplicas replicas in time
  | 'REPLICATION_TIMEOUT'
  | 'NOT_FOUND'
  | 'BAD_REQUEST'
  // an HTTP handler failed unexpectedly (500; engine/http/guarded-app.ts)
  | 'INTERNAL'
  // WebSocket connection caps (issue 11): 429 before the upgrade
  | 'TOO_MANY_CONNECTIONS'
  // message lifecycle (issue 6)
  | 'NOT_CANCELLABLE'
  | 'QUOTA_EXCEEDED'
  | 'SENDER_NOT_ALLOWED'
  | 'INVALID_TEMPLATE'
  // analytics (issue 4)
  | 'NUMBER_FLAGGED'
  // an analytics query or report over its cost limits (analytics.limits)
  | 'QUERY_TOO_COSTLY'
  // opt-out and moderation (issue 6): reasons in the error of `stopped` and `pending_approval` statuses
  | 'OPTED_OUT'
  | 'MODERATION_REJECTED'
  | 'URL_NOT_ALLOWED'
  | 'VOLUME_ANOMALY'
  // reasons of `expired` and `unknown` statuses the engine decides (issue 12)
  | 'VALIDITY_EXPIRED'
  | 'NO_RECEIPT'
  // configuration
  | 'CONFIG_INVALID'
  // tenants as data (issue 15): a submit of a suspended tenant; a tenant id taken; a change raced by another; a reload that could not apply everything
  | 'TENANT_SUSPENDED'
  | 'TENANT_EXISTS'
  | 'CHANGE_CONFLICT'
  | 'RELOAD_INCOMPLETE'
  // many nodes (issue 14): a start refused because a live node holds its engine.nodeId, or its port is taken
  | 'NODE_ID_IN_USE'
  | 'PORT_IN_USE'
  // a notice on the WebSocket status stream (not a refusal): the resume position was too old (engine/push/)
  | 'RESUME_LIMITED'
  // SMPP
  | 'SMPP_THROTTLED'
  | 'SMPP_TEMPORARY'
  | 'SMPP_PERMANENT'
  | 'SMPP_TIMEOUT'
  | 'SMPP_CONNECTION_CLOSED'
  | 'SMPP_BIND_FAILED'
  | 'SMPP_BAD_PDU'
  | 'SMPP_WINDOW_FULL'
  // a submit_sm not written because its bind's lease may have run out (engine/fleet/)
  | 'SMPP_FENCED'
  // idempotent submits (issue 15): a key used before within the window with another body (HTTP 409)
  | 'IDEMPOTENCY_CONFLICT';

/**
 * The one table from error code to HTTP status (issue 15). Every HTTP error
 * answer takes its status from here (engine/http/http-kit.ts `sendError`),
 * README.md "Error codes" shows the same column (a test compares them), and a
 * new code does not compile until it has a row. 0: the code never answers an
 * HTTP request (WebSocket-only, a reason inside a status, SMPP, start-up).
 */
export const HTTP_STATUS: Readonly<Record<ErrorCode, number>> = {
  BAD_FRAME: 400,
  FRAME_TOO_LARGE: 413,
  UNKNOWN_OP: 0,
  INVALID_FIELD: 400,
  INVALID_NUMBER: 400,
  INVALID_TEXT: 400,
  MESSAGE_TOO_LONG: 400,
  NO_ROUTE: 400,
  THROTTLED: 429,
  UNAUTHORIZED: 401,
  UNAVAILABLE: 503,
  REPLICATION_TIMEOUT: 503,
  NOT_FOUND: 404,
  BAD_REQUEST: 400,
  INTERNAL: 500,
  TOO_MANY_CONNECTIONS: 429,
  NOT_CANCELLABLE: 409,
  QUOTA_EXCEEDED: 429,
  IDEMPOTENCY_CONFLICT: 409,
  TENANT_SUSPENDED: 403,
  TENANT_EXISTS: 409,
  CHANGE_CONFLICT: 409,
  RELOAD_INCOMPLETE: 409,
  SENDER_NOT_ALLOWED: 403,
  INVALID_TEMPLATE: 400,
  NUMBER_FLAGGED: 400,
  QUERY_TOO_COSTLY: 400,
  OPTED_OUT: 0,
  MODERATION_REJECTED: 0,
  URL_NOT_ALLOWED: 0,
  VOLUME_ANOMALY: 0,
  VALIDITY_EXPIRED: 0,
  NO_RECEIPT: 0,
  CONFIG_INVALID: 400,
  NODE_ID_IN_USE: 0,
  PORT_IN_USE: 0,
  RESUME_LIMITED: 0,
  SMPP_THROTTLED: 0,
  SMPP_TEMPORARY: 0,
  SMPP_PERMANENT: 0,
  SMPP_TIMEOUT: 0,
  SMPP_CONNECTION_CLOSED: 0,
  SMPP_BIND_FAILED: 0,
  SMPP_BAD_PDU: 0,
  SMPP_WINDOW_FULL: 0,
  SMPP_FENCED: 0,
};

/** Every error code (the keys of HTTP_STATUS): the OpenAPI document's enum and the README check read it. */
export const ERROR_CODES = Object.keys(HTTP_STATUS) as ErrorCode[];

/** Where an error code is documented: the `docs` field of every HTTP error body (an anchor on its row of README.md "Error codes"). */
export function docsOf(code: ErrorCode): string {
  return `README.md#err-${code.toLowerCase().replace(/_/g, '-')}`;
}

export class SwitchyardError extends Error {
  readonly code: ErrorCode;
  /** True when repeating the same operation later may succeed. */
  readonly retryable: boolean;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; retryable?: boolean }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SwitchyardError';
    this.code = code;
    this.retryable = options?.retryable ?? false;
  }
}

/** An error after which the same operation may succeed: back off and retry. */
export class RetryableError extends SwitchyardError {
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, { ...options, retryable: true });
    this.name = 'RetryableError';
  }
}

/** An error that repeating will not fix: the message ends (e.g. `rejected`). */
export class PermanentError extends SwitchyardError {
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, { ...options, retryable: false });
    this.name = 'PermanentError';
  }
}

/** SMPP 3.4 command_status values Switchyard treats specially. */
export const SmppStatus = {
  ESME_ROK: 0x00,
  ESME_RINVMSGLEN: 0x01,
  ESME_RINVCMDLEN: 0x02,
  ESME_RINVCMDID: 0x03,
  ESME_RINVBNDSTS: 0x04,
  ESME_RALYBND: 0x05,
  ESME_RSYSERR: 0x08,
  ESME_RINVSRCADR: 0x0a,
  ESME_RINVDSTADR: 0x0b,
  ESME_RBINDFAIL: 0x0d,
  ESME_RINVPASWD: 0x0e,
  ESME_RINVSYSID: 0x0f,
  ESME_RMSGQFUL: 0x14,
  ESME_RINVSERTYP: 0x15,
  ESME_RSUBMITFAIL: 0x45,
  ESME_RTHROTTLED: 0x58,
  ESME_RX_T_APPN: 0x64,
  ESME_RX_P_APPN: 0x65,
  ESME_RX_R_APPN: 0x66,
  ESME_RINVSCHED: 0x61,
  ESME_RINVEXPIRY: 0x62,
  ESME_RINVOPTPARSTREAM: 0xc0,
  ESME_RINVPARLEN: 0xc2,
  ESME_RUNKNOWNERR: 0xff,
} as const;

/**
 * A PDU this side cannot read. `commandStatus` is what the peer is answered
 * (in the request's own response, or a generic_nack when the header itself
 * is unusable): the SMPP 3.4 status naming the field that is wrong, so that
 * the SMSC's logs say why, not merely that something was refused.
 */
export class SmppPduError extends SwitchyardError {
  readonly commandStatus: number;
  constructor(message: string, commandStatus: number) {
    super('SMPP_BAD_PDU', message);
    this.name = 'SmppPduError';
    this.commandStatus = commandStatus;
  }
}

/** How a submit_sm_resp command_status is handled by the operator actor. */
export type SubmitOutcome = 'ok' | 'throttled' | 'temporary' | 'permanent';

/**
 * The one mapping from SMPP command_status to Switchyard's handling.
 * Throttling (0x58) and a full queue (0x14) slow the actor down and retry;
 * system errors and ESME_RX_T_APPN are temporary (retry with backoff);
 * everything else is permanent and ends the message `rejected`.
 */
export function classifySubmitStatus(status: number): SubmitOutcome {
  switch (status) {
    case SmppStatus.ESME_ROK:
      return 'ok';
    case SmppStatus.ESME_RTHROTTLED:
    case SmppStatus.ESME_RMSGQFUL:
      return 'throttled';
    case SmppStatus.ESME_RSYSERR:
    case SmppStatus.ESME_RX_T_APPN:
    case SmppStatus.ESME_RINVBNDSTS:
      return 'temporary';
    default:
      return 'permanent';
  }
}

/** Builds the error object for a non-zero submit_sm_resp status. */
export function smppStatusToError(status: number): SwitchyardError {
  const hex = '0x' + status.toString(16).padStart(8, '0');
  switch (classifySubmitStatus(status)) {
    case 'throttled':
      return new RetryableError('SMPP_THROTTLED', `SMSC throttled the submit (command_status ${hex})`);
    case 'temporary':
      return new RetryableError('SMPP_TEMPORARY', `SMSC reported a temporary error (command_status ${hex})`);
    default:
      return new PermanentError('SMPP_PERMANENT', `SMSC refused the submit (command_status ${hex})`);
  }
}
