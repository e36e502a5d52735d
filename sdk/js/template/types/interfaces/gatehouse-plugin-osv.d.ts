declare module 'gatehouse:plugin/osv@0.1.3' {
  /**
   * The advisories affecting each of `versions` of one package, in input order.
   * Names are normalised by the host per ecosystem (PEP 503 for PyPI).
   */
  export function affecting(ecosystem: string, name: string, versions: Array<string>): Array<Array<Advisory>>;
  /**
   * Every advisory recorded for one package (added in 0.1.1, for audit
   * endpoints such as npm's bulk advisories).
   */
  export function advisories(ecosystem: string, name: string): Array<PackageAdvisory>;
  /**
   * Severity label, from a CVSS base score or the database's own label.
   * # Variants
   * 
   * ## `"unknown"`
   * 
   * ## `"low"`
   * 
   * ## `"medium"`
   * 
   * ## `"high"`
   * 
   * ## `"critical"`
   */
  export type Severity = 'unknown' | 'low' | 'medium' | 'high' | 'critical';
  export interface Advisory {
    id: string,
    aliases: Array<string>,
    summary: string,
    /**
     * True for malicious-package reports (`MAL-` ids).
     */
    malicious: boolean,
    /**
     * The highest CVSS base score computed from the record's vectors.
     */
    score?: number,
    severity: Severity,
    /**
     * Versions that fix it, in the affected ranges' own words.
     */
    fixed: Array<string>,
    /**
     * When the record last changed, seconds since the Unix epoch.
     */
    modified: bigint,
  }
  /**
   * A stretch of affected versions; bounds as the record spells them.
   */
  export interface Interval {
    /**
     * Inclusive lower bound; none means from the first version.
     */
    introduced?: string,
    /**
     * Exclusive upper bound.
     */
    fixed?: string,
    /**
     * Inclusive upper bound.
     */
    lastAffected?: string,
  }
  /**
   * An advisory and every version of the package it affects.
   */
  export interface PackageAdvisory {
    advisory: Advisory,
    /**
     * Affected stretches in the ecosystem's own version order.
     */
    intervals: Array<Interval>,
    /**
     * Versions the record lists one by one.
     */
    versions: Array<string>,
  }
}
