declare module 'gatehouse:plugin/store@0.1.3' {
  export function get(key: string): Uint8Array | undefined;
  /**
   * Stores `value`; it expires after `ttl-seconds` when given.
   */
  export function set(key: string, value: Uint8Array, ttlSeconds: number | undefined): void;
  export { _delete as delete };
  function _delete(key: string): void;
}
