/* gatehouse.c: the helper layer declared in gatehouse.h (the `evaluate` export,
 * strings, verdicts, host calls, the settings JSON reader). */
#include "gatehouse.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- The export ---------------------------------------------------------- */

/* The generated binding hands over ownership of the arguments (the host wrote
 * them into memory from cabi_realloc), so they are freed here after the
 * policy's function ran; the returned list is freed by the generated
 * post-return function once the host has read it. */
bool exports_policy_evaluate(policy_string_t *settings, policy_context_t *context,
                             policy_list_version_facts_t *facts,
                             policy_list_verdict_t *ret, policy_string_t *err) {
    size_t count = facts->len;
    gh_verdict *verdicts = count ? calloc(count, sizeof *verdicts) : NULL;
    gh_str error = {0};
    bool ok;
    if (count && !verdicts) {
        ok = false;
        error = gh_format("out of memory for %zu verdicts", count);
    } else {
        ok = gh_policy_evaluate(*settings, context, facts->ptr, count, verdicts, &error);
    }
    if (ok) {
        gh_free(&error);
        *ret = (policy_list_verdict_t){verdicts, count};
    } else {
        for (size_t i = 0; i < count; i++) gatehouse_plugin_types_verdict_free(&verdicts[i]);
        free(verdicts);
        if (!error.len) {
            gh_free(&error);
            error = gh_format("the policy failed without saying why");
        }
        *err = error;
    }
    policy_string_free(settings);
    policy_context_free(context);
    policy_list_version_facts_free(facts);
    return ok;
}

/* ---- Strings ------------------------------------------------------------- */

gh_str gh_cstr(const char *text) {
    return (gh_str){(uint8_t *)text, strlen(text)};
}

gh_str gh_copy(gh_str text) {
    gh_str copy = {0};
    policy_string_dup_n(&copy, (const char *)text.ptr, text.len);
    return copy;
}

gh_str gh_format(const char *format, ...) {
    va_list args, again;
    va_start(args, format);
    va_copy(again, args);
    int len = vsnprintf(NULL, 0, format, args);
    va_end(args);
    gh_str out = {0};
    if (len > 0 && (out.ptr = malloc((size_t)len + 1))) {
        vsnprintf((char *)out.ptr, (size_t)len + 1, format, again);
        out.len = (size_t)len;
    }
    va_end(again);
    return out;
}

bool gh_eq(gh_str a, gh_str b) {
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

bool gh_is(gh_str a, const char *text) {
    return gh_eq(a, gh_cstr(text));
}

void gh_free(gh_str *text) {
    /* Not policy_string_free: that one leaks a malloc'd empty string. */
    free(text->ptr);
    *text = (gh_str){0};
}

/* ---- Verdicts ------------------------------------------------------------ */

static gh_verdict verdict(gatehouse_plugin_types_action_t action, const char *rule,
                          gh_str reason) {
    gh_verdict v = {.action = action, .reason = reason};
    policy_string_dup(&v.rule, rule);
    return v;
}

gh_verdict gh_allow(const char *rule) {
    return verdict(GATEHOUSE_PLUGIN_TYPES_ACTION_ALLOW, rule, (gh_str){0});
}

gh_verdict gh_warn(const char *rule, gh_str reason) {
    return verdict(GATEHOUSE_PLUGIN_TYPES_ACTION_WARN, rule, reason);
}

gh_verdict gh_block(const char *rule, gh_str reason) {
    return verdict(GATEHOUSE_PLUGIN_TYPES_ACTION_BLOCK, rule, reason);
}

void gh_add_advisory(gh_verdict *v, gh_str id) {
    policy_list_string_t *ids = &v->advisories;
    gh_str *grown = realloc(ids->ptr, (ids->len + 1) * sizeof *grown);
    if (!grown) return;
    ids->ptr = grown;
    ids->ptr[ids->len++] = gh_copy(id);
}

/* ---- Host capabilities --------------------------------------------------- */

bool gh_osv_affecting(const gh_facts *facts, size_t count,
                      gatehouse_plugin_osv_list_list_advisory_t *out, gh_str *error) {
    *out = (gatehouse_plugin_osv_list_list_advisory_t){0};
    if (count == 0) return true;
    /* The versions are borrowed from the facts: an import does not take
     * ownership of its arguments. */
    policy_list_string_t versions = {malloc(count * sizeof(gh_str)), count};
    if (!versions.ptr) {
        *error = gh_format("out of memory for %zu versions", count);
        return false;
    }
    for (size_t i = 0; i < count; i++) versions.ptr[i] = facts[i].version;
    gh_str ecosystem = facts[0].ecosystem, name = facts[0].name;
    gatehouse_plugin_osv_affecting(&ecosystem, &name, &versions, out);
    free(versions.ptr);
    if (out->len != count) {
        *error = gh_format("the OSV capability answered %zu lists for %zu versions of %.*s",
                           out->len, count, GH_STR(name));
        gh_osv_free(out);
        return false;
    }
    return true;
}

void gh_osv_free(gatehouse_plugin_osv_list_list_advisory_t *advisories) {
    gatehouse_plugin_osv_list_list_advisory_free(advisories);
}

void gh_log(gatehouse_plugin_log_level_t level, const char *format, ...) {
    va_list args;
    va_start(args, format);
    int len = vsnprintf(NULL, 0, format, args);
    va_end(args);
    if (len <= 0) return;
    char *text = malloc((size_t)len + 1);
    if (!text) return;
    va_start(args, format);
    vsnprintf(text, (size_t)len + 1, format, args);
    va_end(args);
    gh_str message = {(uint8_t *)text, (size_t)len};
    gatehouse_plugin_log_log(level, &message);
    free(text);
}

/* ---- Settings: JSON ------------------------------------------------------ */

static bool fail(gh_json *j) {
    j->failed = true;
    return false;
}

static void skip_space(gh_json *j) {
    while (j->at < j->end && (*j->at == ' ' || *j->at == '\t' || *j->at == '\n' || *j->at == '\r'))
        j->at++;
}

/* The next significant byte, or 0 at the end (or after a failure). */
static uint8_t peek(gh_json *j) {
    skip_space(j);
    return !j->failed && j->at < j->end ? *j->at : 0;
}

gh_json gh_json_start(gh_str text) {
    return (gh_json){.at = text.ptr, .end = text.ptr + text.len, .start = text.ptr};
}

size_t gh_json_offset(const gh_json *j) {
    return (size_t)(j->at - j->start);
}

bool gh_json_end(gh_json *j) {
    return peek(j) == 0 && !j->failed;
}

static bool enter(gh_json *j, uint8_t bracket) {
    if (peek(j) != bracket) return fail(j);
    j->at++;
    j->first = true;
    return true;
}

/* Whether another member/item follows: `,` between them, `close` after the last. */
static bool next(gh_json *j, uint8_t close) {
    uint8_t c = peek(j);
    if (c == close) {
        j->at++;
        j->first = false; /* the enclosing container has now read this one */
        return false;
    }
    if (!j->first) {
        if (c != ',') return fail(j);
        j->at++;
    }
    j->first = false;
    return !j->failed;
}

bool gh_json_object(gh_json *j) { return enter(j, '{'); }
bool gh_json_array(gh_json *j) { return enter(j, '['); }
bool gh_json_item(gh_json *j) { return next(j, ']'); }

bool gh_json_key(gh_json *j, gh_str *key) {
    *key = (gh_str){0};
    if (!next(j, '}')) return false;
    if (!gh_json_string(j, key)) return false;
    if (peek(j) != ':') {
        gh_free(key);
        return fail(j);
    }
    j->at++;
    return true;
}

static int hex4(const uint8_t *p) {
    int value = 0;
    for (int i = 0; i < 4; i++) {
        uint8_t c = p[i];
        int digit = c >= '0' && c <= '9' ? c - '0'
                  : c >= 'a' && c <= 'f' ? c - 'a' + 10
                  : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (digit < 0) return -1;
        value = value * 16 + digit;
    }
    return value;
}

static size_t put_utf8(uint8_t *out, uint32_t cp) {
    if (cp < 0x80) { out[0] = (uint8_t)cp; return 1; }
    if (cp < 0x800) {
        out[0] = (uint8_t)(0xC0 | cp >> 6);
        out[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (uint8_t)(0xE0 | cp >> 12);
        out[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
        out[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (uint8_t)(0xF0 | cp >> 18);
    out[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3F));
    out[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
    out[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}

bool gh_json_string(gh_json *j, gh_str *out) {
    *out = (gh_str){0};
    if (peek(j) != '"') return fail(j);
    const uint8_t *p = ++j->at;
    /* Decoding never makes the text longer: +1 keeps malloc(0) out. */
    uint8_t *buf = malloc((size_t)(j->end - p) + 1), *w = buf;
    if (!buf) return fail(j);
    while (p < j->end && *p != '"') {
        if (*p < 0x20) break; /* raw control characters are not JSON */
        if (*p != '\\') { *w++ = *p++; continue; }
        if (++p >= j->end) break;
        uint8_t c = *p++;
        const char *simple = strchr("\"\\/bfnrt", c);
        if (c && simple) {
            *w++ = (uint8_t)"\"\\/\b\f\n\r\t"[simple - "\"\\/bfnrt"];
            continue;
        }
        if (c != 'u' || j->end - p < 4) goto bad;
        int cp = hex4(p);
        p += 4;
        if (cp < 0) goto bad;
        if (cp >= 0xD800 && cp < 0xDC00) { /* a surrogate pair: \uD83D\uDE00 */
            int low = j->end - p >= 6 && p[0] == '\\' && p[1] == 'u' ? hex4(p + 2) : -1;
            if (low < 0xDC00 || low >= 0xE000) goto bad;
            p += 6;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
        } else if (cp >= 0xDC00 && cp < 0xE000) {
            goto bad;
        }
        w += put_utf8(w, (uint32_t)cp);
    }
    if (p >= j->end || *p != '"') goto bad;
    j->at = p + 1;
    *out = (gh_str){buf, (size_t)(w - buf)};
    if (!out->len) gh_free(out); /* an empty string holds no memory */
    return true;
bad:
    free(buf);
    j->at = p;
    return fail(j);
}

bool gh_json_int(gh_json *j, int64_t *out) {
    uint8_t c = peek(j);
    if (c != '-' && !(c >= '0' && c <= '9')) return fail(j);
    const uint8_t *p = j->at;
    bool negative = *p == '-';
    if (negative) p++;
    if (p >= j->end || *p < '0' || *p > '9') return fail(j);
    if (*p == '0' && p + 1 < j->end && p[1] >= '0' && p[1] <= '9') return fail(j); /* 01 */
    uint64_t value = 0, limit = negative ? (uint64_t)INT64_MAX + 1 : INT64_MAX;
    for (; p < j->end && *p >= '0' && *p <= '9'; p++) {
        if (value > (limit - (uint64_t)(*p - '0')) / 10) return fail(j); /* overflow */
        value = value * 10 + (uint64_t)(*p - '0');
    }
    if (p < j->end && (*p == '.' || *p == 'e' || *p == 'E')) return fail(j); /* not whole */
    j->at = p;
    *out = negative ? (int64_t)(0 - value) : (int64_t)value;
    return true;
}

bool gh_json_bool(gh_json *j, bool *out) {
    uint8_t c = peek(j);
    size_t left = (size_t)(j->end - j->at);
    if (c == 't' && left >= 4 && memcmp(j->at, "true", 4) == 0) {
        j->at += 4;
        *out = true;
        return true;
    }
    if (c == 'f' && left >= 5 && memcmp(j->at, "false", 5) == 0) {
        j->at += 5;
        *out = false;
        return true;
    }
    return fail(j);
}
