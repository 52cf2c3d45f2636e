/**
 * Branded identifier types. A `MessageId` cannot be passed where an `SmscId` is
 * expected, although both are strings at run time.
 */
declare const brand: unique symbol;
export type Brand<T, B extends string> = T & { readonly [brand]: B };

export type MessageId = Brand<string, 'MessageId'>;
export type SmscId = Brand<string, 'SmscId'>;
export type TenantId = Brand<string, 'TenantId'>;

export const asMessageId = (s: string): MessageId => s as MessageId;
export const asSmscId = (s: string): SmscId => s as SmscId;
export const asTenantId = (s: string): TenantId => s as TenantId;
