/**
 * Every Prometheus metric Switchyard exports, in one place: the name, its
 * type, labels and help. The registries in the main thread and the actor
 * threads build their metrics from this list, and the Grafana dashboard and
 * alert rules in ops/ are checked against it (test/unit/ops-files.test.ts).
 * Conventions: `switchyard_` prefix, `_total` counters, base units (seconds,
 * bytes), labels of bounded cardinality only (SMSC, bind index, tenant,
 * status, code — never a shard, a number or a message id).
 */
export interface MetricSpec {
  readonly name: string;
  readonly type: 'counter' | 'gauge' | 'histogram';
  readonly labels: ReadonlyArray<string>;
  readonly help: string;
  /** Where it is measured: the ingress (main) thread, the actor threads, the webhook dispatcher's thread, or the SMPP server (main thread, its own registry). */
  readonly thread: 'main' | 'actor' | 'webhooks' | 'smpp';
}

export const METRICS = {
  // ingress (main thread)
  accepted: { name: 'switchyard_messages_accepted_total', type: 'counter', labels: ['tenant'], help: 'Submits accepted (acked) by tenant.', thread: 'main' },
  refused: { name: 'switchyard_messages_refused_total', type: 'counter', labels: ['tenant', 'code'], help: 'Submits refused (nack) by tenant and error code.', thread: 'main' },
  wsConnections: { name: 'switchyard_ws_connections', type: 'gauge', labels: [], help: 'Open WebSocket connections.', thread: 'main' },
  wsConnectionsRefused: { name: 'switchyard_ws_connections_refused_total', type: 'counter', labels: ['tenant', 'reason'], help: 'WebSocket upgrades refused 429 TOO_MANY_CONNECTIONS by tenant and reason: tenant_limit (server.maxConnectionsPerTenant), ip_limit (server.maxConnectionsPerIp).', thread: 'main' },
  wsConnectionsDropped: { name: 'switchyard_ws_connections_dropped_total', type: 'counter', labels: ['tenant', 'reason'], help: 'WebSocket connections the server closed, by tenant and reason: slow_consumer (4008: output not read), frame_too_large (1009), flooding (4029: kept sending while the tenant was over its share of server.ingressCpuMsPerSec).', thread: 'main' },
  wsFramesIn: { name: 'switchyard_ws_frames_received_total', type: 'counter', labels: [], help: 'WebSocket frames received.', thread: 'main' },
  statusPushes: { name: 'switchyard_status_pushes_total', type: 'counter', labels: [], help: 'Status frames pushed to WebSocket clients.', thread: 'main' },
  ackLatency: { name: 'switchyard_ack_latency_seconds', type: 'histogram', labels: [], help: 'Submit frame received to ack sent (includes the Redis write).', thread: 'main' },
  enqueueLatency: { name: 'switchyard_enqueue_latency_seconds', type: 'histogram', labels: [], help: 'One enqueue script call to Redis and back.', thread: 'main' },
  queueDepth: { name: 'switchyard_queue_depth', type: 'gauge', labels: ['smsc'], help: 'Entries in an SMSC\'s queue streams, over its shards (waiting or in flight).', thread: 'main' },
  queueLag: { name: 'switchyard_queue_consumer_lag', type: 'gauge', labels: ['smsc'], help: 'Entries of an SMSC\'s queue streams not yet read by its actor, over its shards.', thread: 'main' },
  queuePending: { name: 'switchyard_queue_pending', type: 'gauge', labels: ['smsc'], help: 'Entries read by the actor and not yet acknowledged (sending or awaiting the resp), over its shards.', thread: 'main' },
  smscEligible: { name: 'switchyard_smsc_eligible', type: 'gauge', labels: ['smsc'], help: 'The router may choose this SMSC (up, queue within its limit, circuit closed).', thread: 'main' },
  circuitOpen: { name: 'switchyard_smsc_circuit_open', type: 'gauge', labels: ['smsc'], help: 'The circuit breaker keeps the SMSC out of routing (repeated permanent submit errors).', thread: 'main' },
  deliveryRate: { name: 'switchyard_smsc_delivery_rate', type: 'gauge', labels: ['smsc'], help: 'Delivered / final receipts over the routing quality window (NaN without enough receipts).', thread: 'main' },
  failoverMoved: { name: 'switchyard_failover_moved_total', type: 'counter', labels: [], help: 'Queued entries moved off SMSCs that stayed down.', thread: 'main' },
  routingReloads: { name: 'switchyard_routing_reloads_total', type: 'counter', labels: ['result'], help: 'Routing reloads by result (ok, refused).', thread: 'main' },
  sinkInserted: { name: 'switchyard_analytics_events_inserted_total', type: 'counter', labels: [], help: 'Status events the analytics sink inserted into ClickHouse.', thread: 'main' },
  sinkFailures: { name: 'switchyard_analytics_insert_failures_total', type: 'counter', labels: [], help: 'Failed analytics inserts (the batch stays pending and is retried).', thread: 'main' },
  sinkLag: { name: 'switchyard_analytics_sink_lag_seconds', type: 'gauge', labels: [], help: 'Age of the newest event in the last batch inserted into ClickHouse.', thread: 'main' },
  sinkBatch: { name: 'switchyard_analytics_batch_size', type: 'gauge', labels: [], help: 'Events in the last analytics insert.', thread: 'main' },
  sinkReady: { name: 'switchyard_analytics_ready', type: 'gauge', labels: [], help: '1 when the analytics worker has ClickHouse open and migrated.', thread: 'main' },
  eventsLength: { name: 'switchyard_events_stream_entries', type: 'gauge', labels: [], help: 'Entries in the events streams, over the shards (status changes kept for consumer groups and resuming clients).', thread: 'main' },
  eventsGroupLag: { name: 'switchyard_events_group_lag', type: 'gauge', labels: ['group'], help: 'Events a consumer group (analytics sink, webhooks) has not yet read or acknowledged, over the shards; beyond a shard\'s share of messages.statusRetention they are trimmed unread.', thread: 'main' },
  eventsMissingGroups: { name: 'switchyard_events_streams_missing_group', type: 'gauge', labels: [], help: 'Events streams left untrimmed because a consumer group the engine reads with is missing on them (its reader creates it again).', thread: 'main' },
  sinkBacklog: { name: 'switchyard_analytics_backlog_entries', type: 'gauge', labels: [], help: 'Events-stream entries the analytics sink has not read yet.', thread: 'main' },
  analyticsRss: { name: 'switchyard_analytics_process_rss_bytes', type: 'gauge', labels: [], help: 'Resident memory of the analytics process (embedded ClickHouse included).', thread: 'main' },
  flaggedNumbers: { name: 'switchyard_analytics_flagged_numbers', type: 'gauge', labels: [], help: 'Numbers flagged by bad-number detection (repeated permanent failures).', thread: 'main' },
  moderationHeld: { name: 'switchyard_moderation_held_total', type: 'counter', labels: ['tenant', 'reason'], help: 'Messages held for an admin\'s approval, by tenant and reason (URL_NOT_ALLOWED, VOLUME_ANOMALY).', thread: 'main' },
  scheduled: { name: 'switchyard_scheduled_messages', type: 'gauge', labels: [], help: 'Messages waiting for their sendAt (all tenants, from Redis).', thread: 'main' },
  schedulerMoves: { name: 'switchyard_scheduler_moves_total', type: 'counter', labels: ['result'], help: 'Scheduled messages this node took off the schedule when due, by result: queued, or expired (validity ended first).', thread: 'main' },
  cancels: { name: 'switchyard_cancels_total', type: 'counter', labels: ['result'], help: 'Cancel requests by result: stopped, not_cancellable, not_found.', thread: 'main' },
  workerRestarts: { name: 'switchyard_actor_restarts_total', type: 'counter', labels: ['smsc'], help: 'Restarts of an SMSC actor after its worker thread crashed.', thread: 'main' },
  // operator actors (worker threads)
  submits: { name: 'switchyard_smpp_submits_total', type: 'counter', labels: ['smsc', 'result'], help: 'submit_sm answers by result: ok, throttled (0x58/0x14), temporary, rejected (permanent), timeout (no resp or bind lost).', thread: 'actor' },
  receipts: { name: 'switchyard_receipts_total', type: 'counter', labels: ['smsc', 'status'], help: 'Delivery receipts recorded by part status: delivered, undelivered, expired, unknown, unreachable.', thread: 'actor' },
  receiptsUnmatched: { name: 'switchyard_receipts_unmatched_total', type: 'counter', labels: ['smsc'], help: 'Receipts for no known message (expired mapping or a foreign id).', thread: 'actor' },
  expiredInQueue: { name: 'switchyard_messages_expired_in_queue_total', type: 'counter', labels: ['smsc'], help: 'Parts whose validity ran out before they could be sent.', thread: 'actor' },
  windowInFlight: { name: 'switchyard_smpp_window_in_flight', type: 'gauge', labels: ['smsc'], help: 'Unanswered submit_sm over all binds of the SMSC.', thread: 'actor' },
  windowSize: { name: 'switchyard_smpp_window_size', type: 'gauge', labels: ['smsc'], help: 'Window capacity over the bound sessions (window per bind x bound binds).', thread: 'actor' },
  tpsWaits: { name: 'switchyard_tps_limit_waits_total', type: 'counter', labels: ['smsc'], help: 'Times the SMSC TPS token bucket held sending back.', thread: 'actor' },
  bindUp: { name: 'switchyard_bind_up', type: 'gauge', labels: ['smsc', 'bind'], help: '1 when the SMPP session is bound, 0 when down.', thread: 'actor' },
  bindChanged: { name: 'switchyard_bind_state_change_timestamp_seconds', type: 'gauge', labels: ['smsc', 'bind'], help: 'Unix time of the session\'s last up/down change.', thread: 'actor' },
  reconnects: { name: 'switchyard_bind_reconnects_total', type: 'counter', labels: ['smsc'], help: 'SMPP sessions lost and re-established.', thread: 'actor' },
  badPdus: { name: 'switchyard_smpp_bad_pdus_total', type: 'counter', labels: ['smsc'], help: 'PDUs from the SMSC that were refused (malformed, unknown or out of place; each answered with the status naming why) or ignored (responses nobody asked for).', thread: 'actor' },
  submitLatency: { name: 'switchyard_submit_latency_seconds', type: 'histogram', labels: ['smsc'], help: 'submit_sm to submit_sm_resp.', thread: 'actor' },
  moReceived: { name: 'switchyard_mo_messages_total', type: 'counter', labels: ['smsc', 'kind'], help: 'Mobile-originated (inbound) messages recorded, by kind: message, stop, start (keywords), part (of a concatenated message), unattributed (no tenant).', thread: 'actor' },
  deliveryLatency: { name: 'switchyard_delivery_latency_seconds', type: 'histogram', labels: ['smsc'], help: 'Message sent (last part\'s submit_sm_resp recorded) to each receipt; 0 for a receipt that came before its resp was recorded.', thread: 'actor' },
  // SMPP server ingress (engine/smpp-server/; main thread, its own registry). bind: the bind's slot in its tenant (0..maxBinds-1).
  smppBinds: { name: 'switchyard_smpp_server_binds', type: 'gauge', labels: ['tenant', 'mode'], help: 'Customer SMPP binds open on this node by tenant and mode (transmitter, receiver, transceiver).', thread: 'smpp' },
  smppBindsRefused: { name: 'switchyard_smpp_server_binds_refused_total', type: 'counter', labels: [], help: 'SMPP binds refused 0x0D (wrong system_id or password, or over the tenant\'s bind cap).', thread: 'smpp' },
  smppSubmits: { name: 'switchyard_smpp_server_submits_total', type: 'counter', labels: ['tenant', 'bind', 'status'], help: 'submit_sm and data_sm answered, by tenant, bind slot and command_status (0x00000000 accepted).', thread: 'smpp' },
  smppDelivered: { name: 'switchyard_smpp_server_delivered_total', type: 'counter', labels: ['tenant', 'kind'], help: 'deliver_sm the customer answered 0, by kind (receipt, mo).', thread: 'smpp' },
  smppDeliverRetries: { name: 'switchyard_smpp_server_deliver_retries_total', type: 'counter', labels: ['tenant'], help: 'deliver_sm refused or unanswered by the customer (retried after a backoff).', thread: 'smpp' },
  // webhook dispatcher (its own worker thread, engine/webhooks/)
  webhookDeliveries: { name: 'switchyard_webhook_deliveries_total', type: 'counter', labels: ['tenant', 'result'], help: 'Webhook POST attempts by result: ok (2xx), refused (other 3xx/4xx: dead-lettered), too_large (413: batch halved), throttled (408/429), server_error (5xx), timeout, network.', thread: 'webhooks' },
  webhookRetries: { name: 'switchyard_webhook_retries_total', type: 'counter', labels: ['tenant'], help: 'Webhook POSTs that repeat a batch whose earlier attempt failed.', thread: 'webhooks' },
  webhookEvents: { name: 'switchyard_webhook_events_delivered_total', type: 'counter', labels: ['tenant'], help: 'Events (statuses, MO messages) a tenant\'s receiver answered 2xx for.', thread: 'webhooks' },
  webhookDeadLetters: { name: 'switchyard_webhook_dead_letters_total', type: 'counter', labels: ['tenant', 'reason'], help: 'Events moved to the dead-letter list by reason: refused (4xx), expired (retry time over), queue_full.', thread: 'webhooks' },
  webhookQueueDepth: { name: 'switchyard_webhook_queue_depth', type: 'gauge', labels: ['tenant'], help: 'Webhook events waiting in Redis for the tenant\'s receiver (it failed or fell behind).', thread: 'webhooks' },
  webhookDeadLetterDepth: { name: 'switchyard_webhook_dead_letter_depth', type: 'gauge', labels: ['tenant'], help: 'Events in the tenant\'s dead-letter list (inspect and replay: /v1/admin/webhooks).', thread: 'webhooks' },
  webhookLatency: { name: 'switchyard_webhook_latency_seconds', type: 'histogram', labels: ['tenant'], help: 'Event written to the events stream to its receiver\'s 2xx (includes time queued while the receiver was down).', thread: 'webhooks' },
  webhookLag: { name: 'switchyard_webhook_dispatch_lag_seconds', type: 'gauge', labels: [], help: 'Age of the newest events-stream entry the webhook dispatcher has read (how far it trails the stream).', thread: 'webhooks' },
} as const satisfies Record<string, MetricSpec>;

export type MetricKey = keyof typeof METRICS;

/** Every name Switchyard exports, including prom-client's process and Node.js defaults (labelled by thread). */
export const DEFAULT_METRIC_PREFIXES = ['process_', 'nodejs_'] as const;
