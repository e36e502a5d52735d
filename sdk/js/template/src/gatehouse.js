// @ts-check
// gatehouse.js: the small SDK layer a JavaScript policy builds on. It reads the
// policy's settings strictly, makes verdicts, matches name patterns, and turns a
// thrown error into the `err` the host expects. The host's types and imports are
// typed by the generated `types/` (jco guest-types from the gatehouse WIT).

/** @typedef {import('gatehouse:plugin/types@0.1.3').Context} Context */
/** @typedef {import('gatehouse:plugin/types@0.1.3').VersionFacts} VersionFacts */
/** @typedef {import('gatehouse:plugin/types@0.1.3').Verdict} Verdict */
/** @typedef {import('gatehouse:plugin/osv@0.1.3').Advisory} Advisory */

/**
 * One setting: its default, and how a value from the gate-policy file is checked.
 * @template T
 * @typedef {{ fallback: T, read: (value: unknown, key: string) => T }} Setting
 */

/**
 * The kinds of setting a policy declares (see `policy`).
 * A value of the wrong kind fails the batch with an error naming the key.
 */
export const setting = {
  /** @param {string[]} [fallback] @returns {Setting<string[]>} */
  strings: (fallback = []) => ({
    fallback,
    read(value, key) {
      if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) {
        throw new Error(`setting "${key}" must be a list of strings`);
      }
      return value;
    },
  }),
  /** A whole number, zero or more. @param {number} [fallback] @returns {Setting<number>} */
  count: (fallback = 0) => ({
    fallback,
    read(value, key) {
      if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
        throw new Error(`setting "${key}" must be a whole number, zero or more`);
      }
      return value;
    },
  }),
  /** @param {string} [fallback] @returns {Setting<string>} */
  string: (fallback = '') => ({
    fallback,
    read(value, key) {
      if (typeof value !== 'string') throw new Error(`setting "${key}" must be a string`);
      return value;
    },
  }),
  /** @param {boolean} [fallback] @returns {Setting<boolean>} */
  boolean: (fallback = false) => ({
    fallback,
    read(value, key) {
      if (typeof value !== 'boolean') throw new Error(`setting "${key}" must be true or false`);
      return value;
    },
  }),
};

/**
 * The settings a spec of `setting`s reads to.
 * @template {Record<string, Setting<any>>} S
 * @typedef {{ [K in keyof S]: S[K] extends Setting<infer T> ? T : never }} SettingsOf
 */

/**
 * Reads the policy's JSON block against `spec`. Missing keys take their default;
 * an unknown key fails, so that a misspelt setting cannot turn a rule off silently.
 * @template {Record<string, Setting<any>>} S
 * @param {string} json
 * @param {S} spec
 * @returns {SettingsOf<S>}
 */
export function readSettings(json, spec) {
  const given = json.trim() === '' ? {} : JSON.parse(json);
  if (given === null || typeof given !== 'object' || Array.isArray(given)) {
    throw new Error('settings must be a JSON object');
  }
  for (const key of Object.keys(given)) {
    if (!Object.hasOwn(spec, key)) throw new Error(`unknown setting "${key}"`);
  }
  /** @type {Record<string, unknown>} */
  const settings = {};
  for (const [key, kind] of Object.entries(spec)) {
    settings[key] = Object.hasOwn(given, key) ? kind.read(given[key], key) : kind.fallback;
  }
  return /** @type {SettingsOf<S>} */ (settings);
}

/**
 * The policy's `evaluate` export: reads the settings against `spec`, then calls
 * `rule`. Whatever `rule` throws becomes the batch's error string, which the
 * host reports and handles per the policy's `on_error` (componentize-js traps
 * on a thrown Error object, so it is turned into its message here).
 * @template {Record<string, Setting<any>>} S
 * @param {S} spec
 * @param {(settings: SettingsOf<S>, context: Context, facts: VersionFacts[]) => Verdict[]} rule
 * @returns {typeof import('gatehouse:plugin/policy@0.1.3').evaluate}
 */
export function policy(spec, rule) {
  return (json, context, facts) => {
    try {
      return rule(readSettings(json, spec), context, facts);
    } catch (error) {
      throw error instanceof Error ? error.message : String(error);
    }
  };
}

/** @returns {Verdict} */
export function allow() {
  return { action: 'allow', rule: '', reason: '', advisories: [] };
}

/** @param {string} reason @param {string[]} [advisories] @returns {Verdict} */
export function warn(reason, advisories = []) {
  return { action: 'warn', rule: '', reason, advisories };
}

/** @param {string} reason @param {string[]} [advisories] @returns {Verdict} */
export function block(reason, advisories = []) {
  return { action: 'block', rule: '', reason, advisories };
}

/**
 * Seconds since the epoch as a plain number: WIT `s64` values (`context.now`,
 * `published`) arrive as bigint, which does not mix with number arithmetic.
 * @param {bigint | number | null | undefined} value
 * @returns {number | undefined}
 */
export function seconds(value) {
  return value == null ? undefined : Number(value);
}

/**
 * Whether `name` matches `pattern`, where `*` matches any run of characters and
 * everything else matches itself.
 * @param {string} pattern
 * @param {string} name
 */
export function globMatch(pattern, name) {
  const [first, ...rest] = pattern.split('*');
  if (!name.startsWith(first)) return false;
  if (rest.length === 0) return name === first;
  const last = /** @type {string} */ (rest.pop());
  let at = first.length;
  for (const part of rest) {
    const found = name.indexOf(part, at);
    if (found < 0) return false;
    at = found + part.length;
  }
  return name.length - at >= last.length && name.endsWith(last);
}
