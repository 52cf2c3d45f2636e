/** Public face of the config folder: schema, defaults, loader. */
export { DEFAULTS, configSchema, tenantSchema } from './schema.js';
export type { SwitchyardConfig, TenantConfig, SmscConfig, RoutingConfig, RoutePlanConfig, SecretRef, WebhookConfig } from './schema.js';
export { parseConfig, loadConfig, resolveSecret, type Config } from './load-config.js';
