// node's `semver` (the package npm itself uses) answering a differential batch:
// node npm.js BATCH.json, prints {valid, rank, range_valid, satisfies,
// satisfies_including_prereleases}.
const fs = require("fs");
const semver = require("semver");

const batch = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const parsed = batch.versions.map((v) => {
  try {
    return new semver.SemVer(v);
  } catch {
    return null;
  }
});
const valid = parsed.map((v) => v !== null);
const order = parsed.map((v, i) => i).filter((i) => valid[i]);
order.sort((a, b) => semver.compare(parsed[a], parsed[b]));
const rank = parsed.map(() => null);
let current = 0;
order.forEach((index, n) => {
  if (n > 0 && semver.compare(parsed[order[n - 1]], parsed[index]) !== 0) current += 1;
  rank[index] = current;
});
const ranges = batch.ranges.map((r) => {
  try {
    return new semver.Range(r);
  } catch {
    return null;
  }
});
const satisfies = batch.pairs.map(([v, r]) =>
  parsed[v] && ranges[r] ? ranges[r].test(parsed[v]) : null,
);
// As `npm audit` tests vulnerable ranges.
const including = batch.ranges.map((r) => {
  try {
    return new semver.Range(r, { includePrerelease: true });
  } catch {
    return null;
  }
});
const satisfiesIncludingPrereleases = batch.pairs.map(([v, r]) =>
  parsed[v] && including[r] ? including[r].test(parsed[v]) : null,
);
process.stdout.write(
  JSON.stringify({
    valid,
    rank,
    range_valid: ranges.map((r) => r !== null),
    satisfies,
    satisfies_including_prereleases: satisfiesIncludingPrereleases,
  }),
);
