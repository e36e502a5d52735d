declare module 'gatehouse:plugin/types@0.1.3' {
  /**
   * A digest an upstream registry declares for an artifact.
   */
  export interface Digest {
    /**
     * `sha256`, `sha512` or `sha1` (lower case).
     */
    algorithm: string,
    /**
     * Lower-case hex of the digest bytes.
     */
    hex: string,
  }
  /**
   * One dependency of a version, as the ecosystem declares it.
   */
  export interface Dependency {
    name: string,
    /**
     * The version requirement in the ecosystem's own syntax (`^1.2.0`, `>=2,<3`, ...).
     */
    requirement: string,
    /**
     * `normal`, `dev`, `optional`, `peer`, `build` ... in the ecosystem's words.
     */
    kind: string,
  }
  /**
   * One version of one package, as an adapter normalised it.
   */
  export interface VersionFacts {
    /**
     * Spelled exactly as OSV records spell it: `npm`, `PyPI`, `crates.io`, `Go`, `Maven`.
     */
    ecosystem: string,
    /**
     * The package name as the ecosystem writes it (npm scopes included: `@scope/name`).
     */
    name: string,
    version: string,
    /**
     * Publish time in seconds since the Unix epoch, when upstream says.
     */
    published?: bigint,
    /**
     * The declared license, ideally an SPDX expression, as upstream gives it.
     */
    license?: string,
    /**
     * Install-time hooks the version runs (npm `preinstall`, `install`, `postinstall`).
     */
    installScripts: Array<string>,
    /**
     * The deprecation message, when upstream marks the version deprecated.
     */
    deprecated?: string,
    /**
     * The yank reason (empty when none was given), when upstream yanked the version.
     */
    yanked?: string,
    /**
     * Artifact size in bytes, when known.
     */
    size?: bigint,
    digests: Array<Digest>,
    dependencies: Array<Dependency>,
    /**
     * The upstream per-version metadata as a JSON document, for ecosystem-specific rules.
     */
    raw: string,
  }
  /**
   * The fields of `version-facts` that cost an adapter to fill in. A policy
   * declares which of them it reads in a `gatehouse:reads` custom section:
   * space-separated names, `raw.KEY` for one top-level key of `raw` only;
   * without the section it reads everything. An adapter may leave what no
   * policy reads empty: `raw` as `{}`, `dependencies` as no entries.
   * Added in 0.1.1.
   */
  export interface FactFields {
    raw?: boolean,
    dependencies?: boolean,
  }
  /**
   * What the active policies read of the costly facts.
   */
  export interface FactReads {
    fields: FactFields,
    /**
     * When every policy reading `raw` named the top-level keys it needs:
     * those keys, and `raw` may hold only them. None: all of `raw`.
     */
    rawKeys?: Array<string>,
  }
  /**
   * What a rule concluded about one version.
   * # Variants
   * 
   * ## `"allow"`
   * 
   * ## `"warn"`
   * 
   * ## `"block"`
   */
  export type Action = 'allow' | 'warn' | 'block';
  /**
   * One policy's answer for one version.
   */
  export interface Verdict {
    action: Action,
    /**
     * The rule that decided, e.g. `vulnerability` (the host fills in the policy name when empty).
     */
    rule: string,
    /**
     * A sentence a developer can act on: what was found and what to do.
     */
    reason: string,
    /**
     * Advisory ids behind the verdict (OSV, GHSA, CVE ...).
     */
    advisories: Array<string>,
  }
  /**
   * Why the host is asking.
   * # Variants
   * 
   * ## `"metadata"`
   * 
   * Filtering metadata (a packument, a simple page, an index file).
   * ## `"artifact"`
   * 
   * The last-stop check before an artifact is served.
   * ## `"check"`
   * 
   * An offline question (`gatehouse check`, `/api/v1/decide`).
   */
  export type Purpose = 'metadata' | 'artifact' | 'check';
  /**
   * What the host tells a policy about the call it is making.
   */
  export interface Context {
    purpose: Purpose,
    /**
     * The host's clock, seconds since the Unix epoch (fixtures pin it).
     */
    now: bigint,
    /**
     * Who asked, when known (a user name or a client address).
     */
    requester?: string,
  }
}
