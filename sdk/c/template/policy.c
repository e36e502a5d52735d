/* policy.c: gatehouse-example, the example rule every SDK template implements
 * (sdk/example/RULE.md): block names matching a pattern, versions reported
 * malicious and versions younger than a minimum age; warn on other advisories. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "gatehouse.h"

#define RULE "example"
#define DAY_SECONDS INT64_C(86400)

typedef struct settings {
    gh_str *blocked_names; /* name patterns: `*` matches any run of characters */
    size_t blocked_count;
    int64_t min_age_days; /* 0: off */
} settings;

static void settings_free(settings *s) {
    for (size_t i = 0; i < s->blocked_count; i++) gh_free(&s->blocked_names[i]);
    free(s->blocked_names);
    s->blocked_names = NULL;
    s->blocked_count = 0;
}

static bool read_blocked_names(gh_json *json, settings *s) {
    settings_free(s); /* a repeated key: the last one counts, as in JSON readers generally */
    if (!gh_json_array(json)) return false;
    while (gh_json_item(json)) {
        gh_str *grown = realloc(s->blocked_names, (s->blocked_count + 1) * sizeof *grown);
        if (!grown) return false;
        s->blocked_names = grown;
        if (!gh_json_string(json, &s->blocked_names[s->blocked_count])) return false;
        s->blocked_count++;
    }
    return !json->failed;
}

/* Unknown keys and values of the wrong type are refused, naming the key: a
 * misspelt setting must not turn the rule off. */
static bool read_settings(gh_str text, settings *s, gh_str *error) {
    gh_json json = gh_json_start(text);
    gh_str key;
    if (!gh_json_object(&json)) {
        *error = gh_format("the settings are not a JSON object");
        return false;
    }
    while (gh_json_key(&json, &key)) {
        bool ok;
        if (gh_is(key, "blocked_names")) {
            if (!(ok = read_blocked_names(&json, s)))
                *error = gh_format("setting `blocked_names` must be a list of strings");
        } else if (gh_is(key, "min_age_days")) {
            ok = gh_json_int(&json, &s->min_age_days) && s->min_age_days >= 0 &&
                 s->min_age_days <= UINT32_MAX;
            if (!ok) *error = gh_format("setting `min_age_days` must be a whole number of days");
        } else {
            ok = false;
            *error = gh_format("unknown setting `%.*s` (expected `blocked_names` or `min_age_days`)",
                               GH_STR(key));
        }
        gh_free(&key);
        if (!ok) return false;
    }
    if (!gh_json_end(&json)) {
        *error = gh_format("the settings are not valid JSON (at byte %zu)", gh_json_offset(&json));
        return false;
    }
    return true;
}

/* `*` matches any run of characters; everything else matches itself. Greedy
 * with backtracking to the last `*`, which is enough for globs without `?`. */
static bool matches(gh_str pattern, gh_str name) {
    size_t p = 0, n = 0, star = SIZE_MAX, resume = 0;
    while (n < name.len) {
        if (p < pattern.len && pattern.ptr[p] == '*') {
            star = p++;
            resume = n;
        } else if (p < pattern.len && pattern.ptr[p] == name.ptr[n]) {
            p++;
            n++;
        } else if (star != SIZE_MAX) {
            p = star + 1;
            n = ++resume;
        } else {
            return false;
        }
    }
    while (p < pattern.len && pattern.ptr[p] == '*') p++;
    return p == pattern.len;
}

/* One version's verdict: the first of RULE.md's steps that applies. */
static gh_verdict check(const settings *s, const gh_context *context, const gh_facts *facts,
                        const gh_advisories *advisories) {
    gh_str name = facts->name, version = facts->version;
    for (size_t i = 0; i < s->blocked_count; i++) {
        if (matches(s->blocked_names[i], name))
            return gh_block(RULE, gh_format("%.*s matches the blocked name pattern \"%.*s\"; "
                                            "choose another package",
                                            GH_STR(name), GH_STR(s->blocked_names[i])));
    }
    gh_verdict verdict;
    bool malicious = false;
    for (size_t i = 0; i < advisories->len; i++) {
        const gh_advisory *advisory = &advisories->ptr[i];
        if (!advisory->malicious) continue;
        if (!malicious) /* the reason names the first */
            verdict = gh_block(RULE, gh_format("%.*s %.*s is reported malicious (%.*s)",
                                               GH_STR(name), GH_STR(version),
                                               GH_STR(advisory->id)));
        malicious = true;
        gh_add_advisory(&verdict, advisory->id);
    }
    if (malicious) return verdict;
    if (facts->published.is_some && context->now - facts->published.val < s->min_age_days * DAY_SECONDS)
        return gh_block(RULE, gh_format("%.*s %.*s is younger than %lld days; use an earlier version",
                                        GH_STR(name), GH_STR(version),
                                        (long long)s->min_age_days));
    if (advisories->len) {
        /* "id, id, ...": each id plus its separator fits in len + 2 bytes. */
        size_t room = 1;
        for (size_t i = 0; i < advisories->len; i++) room += advisories->ptr[i].id.len + 2;
        char *ids = malloc(room), *at = ids;
        if (!ids) return gh_warn(RULE, gh_format("%.*s %.*s has known advisories",
                                                 GH_STR(name), GH_STR(version)));
        for (size_t i = 0; i < advisories->len; i++) {
            gh_str id = advisories->ptr[i].id;
            at += snprintf(at, room - (size_t)(at - ids), "%s%.*s", i ? ", " : "", GH_STR(id));
        }
        verdict = gh_warn(RULE, gh_format("%.*s %.*s has known advisories: %s",
                                          GH_STR(name), GH_STR(version), ids));
        free(ids);
        for (size_t i = 0; i < advisories->len; i++) gh_add_advisory(&verdict, advisories->ptr[i].id);
        return verdict;
    }
    return gh_allow(RULE);
}

bool gh_policy_evaluate(gh_str settings_json, const gh_context *context, const gh_facts *facts,
                        size_t count, gh_verdict *verdicts, gh_str *error) {
    settings s = {0};
    gatehouse_plugin_osv_list_list_advisory_t advisories;
    bool ok = read_settings(settings_json, &s, error) &&
              /* One OSV question for the whole batch. */
              gh_osv_affecting(facts, count, &advisories, error);
    if (ok) {
        for (size_t i = 0; i < count; i++)
            verdicts[i] = check(&s, context, &facts[i], &advisories.ptr[i]);
        gh_osv_free(&advisories);
    }
    settings_free(&s);
    return ok;
}
