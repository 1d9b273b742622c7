/* Prefetch Lab: the cache-manifest rule evaluator shared by install.js and the service worker.
 * The proxy serves this file in front of each of them, so it must run in a window and in a
 * worker, load nothing, and leave only one global behind: self.PrefetchLabRules.
 * Contract: docs/DESIGN.md, "Cache manifest". */
(function (global) {
  "use strict";
  if (global.PrefetchLabRules) return;

  const EDGIO_PARAM_PREFIX = "edgio_";

  // --- path-to-regexp 6.3 (lexer, parse, tokensToRegexp) with Edgio's defaults: ---
  // case-insensitive, optional trailing delimiter, anchored at both ends.
  const escapeRegex = (text) => text.replace(/([.+*?=^!:${}()[\]|/\\])/g, "\\$1");
  const isNameChar = (c) => /[A-Za-z0-9_]/.test(c);

  function lexPath(pattern) {
    const tokens = [];
    let i = 0;
    while (i < pattern.length) {
      const char = pattern[i];
      if (char === "*" || char === "+" || char === "?") {
        tokens.push({ type: "MODIFIER", index: i, value: pattern[i++] });
      } else if (char === "\\") {
        tokens.push({ type: "ESCAPED_CHAR", index: i, value: pattern[i + 1] });
        i += 2;
      } else if (char === "{") {
        tokens.push({ type: "OPEN", index: i, value: pattern[i++] });
      } else if (char === "}") {
        tokens.push({ type: "CLOSE", index: i, value: pattern[i++] });
      } else if (char === ":") {
        let j = i + 1;
        while (j < pattern.length && isNameChar(pattern[j])) j++;
        if (j === i + 1) throw new TypeError(`Missing parameter name at ${i}`);
        tokens.push({ type: "NAME", index: i, value: pattern.slice(i + 1, j) });
        i = j;
      } else if (char === "(") {
        let depth = 1;
        let j = i + 1;
        let group = "";
        if (pattern[j] === "?") throw new TypeError(`Pattern cannot start with "?" at ${j}`);
        while (j < pattern.length) {
          if (pattern[j] === "\\") {
            group += pattern[j++] + pattern[j++];
            continue;
          }
          if (pattern[j] === ")") {
            depth--;
            if (depth === 0) {
              j++;
              break;
            }
          } else if (pattern[j] === "(") {
            depth++;
            if (pattern[j + 1] !== "?") throw new TypeError(`Capturing groups are not allowed at ${j}`);
          }
          group += pattern[j++];
        }
        if (depth) throw new TypeError(`Unbalanced pattern at ${i}`);
        if (!group) throw new TypeError(`Missing pattern at ${i}`);
        tokens.push({ type: "PATTERN", index: i, value: group });
        i = j;
      } else {
        tokens.push({ type: "CHAR", index: i, value: pattern[i++] });
      }
    }
    tokens.push({ type: "END", index: i, value: "" });
    return tokens;
  }

  function parsePath(pattern) {
    const tokens = lexPath(pattern);
    const prefixes = "./";
    const delimiter = "/#?";
    const result = [];
    // 6.3.0 `safePattern`: a parameter after text stops before that text repeats (no backtracking blow-up).
    const safePattern = (prefix) => {
      const previous = result[result.length - 1];
      const previousText = prefix || (typeof previous === "string" ? previous : "");
      if (previous && !previousText) {
        throw new TypeError(`Must have text between two parameters, missing text after "${previous.name}"`);
      }
      const anyClass = `[^${escapeRegex(delimiter)}]`;
      if (!previousText || [...delimiter].some((d) => previousText.includes(d))) return anyClass + "+?";
      return `(?:(?!${escapeRegex(previousText)})${anyClass})+?`;
    };
    let key = 0;
    let i = 0;
    let text = "";
    const tryConsume = (type) => (i < tokens.length && tokens[i].type === type ? tokens[i++].value : undefined);
    const mustConsume = (type) => {
      const value = tryConsume(type);
      if (value !== undefined) return value;
      throw new TypeError(`Unexpected ${tokens[i].type} at ${tokens[i].index}, expected ${type}`);
    };
    const consumeText = () => {
      let out = "";
      let value;
      while ((value = tryConsume("CHAR") || tryConsume("ESCAPED_CHAR"))) out += value;
      return out;
    };
    while (i < tokens.length) {
      const char = tryConsume("CHAR");
      const name = tryConsume("NAME");
      const group = tryConsume("PATTERN");
      if (name || group) {
        let prefix = char || "";
        if (prefixes.indexOf(prefix) === -1) {
          text += prefix;
          prefix = "";
        }
        if (text) {
          result.push(text);
          text = "";
        }
        result.push({ name: name || key++, prefix, suffix: "", pattern: group || safePattern(prefix), modifier: tryConsume("MODIFIER") || "" });
        continue;
      }
      const value = char || tryConsume("ESCAPED_CHAR");
      if (value) {
        text += value;
        continue;
      }
      if (text) {
        result.push(text);
        text = "";
      }
      if (tryConsume("OPEN")) {
        const prefix = consumeText();
        const groupName = tryConsume("NAME") || "";
        const groupPattern = tryConsume("PATTERN") || "";
        const suffix = consumeText();
        mustConsume("CLOSE");
        result.push({
          name: groupName || (groupPattern ? key++ : ""),
          pattern: groupName && !groupPattern ? safePattern(prefix) : groupPattern,
          prefix,
          suffix,
          modifier: tryConsume("MODIFIER") || "",
        });
        continue;
      }
      mustConsume("END");
    }
    return result;
  }

  function pathToRegExp(pattern) {
    let route = "^";
    for (const token of parsePath(pattern)) {
      if (typeof token === "string") {
        route += escapeRegex(token);
        continue;
      }
      const prefix = escapeRegex(token.prefix);
      const suffix = escapeRegex(token.suffix);
      if (!token.pattern) {
        route += `(?:${prefix}${suffix})${token.modifier}`;
      } else if (prefix || suffix) {
        if (token.modifier === "+" || token.modifier === "*") {
          const optional = token.modifier === "*" ? "?" : "";
          route += `(?:${prefix}((?:${token.pattern})(?:${suffix}${prefix}(?:${token.pattern}))*)${suffix})${optional}`;
        } else {
          route += `(?:${prefix}(${token.pattern})${suffix})${token.modifier}`;
        }
      } else {
        if (token.modifier === "+" || token.modifier === "*") {
          throw new TypeError(`Can not repeat "${token.name}" without a prefix and suffix`);
        }
        route += `(${token.pattern})${token.modifier}`;
      }
    }
    return new RegExp(route + "[\\/#\\?]?$", "i");
  }

  // --- Compiled patterns are cached; a pattern that does not compile never matches (warned once). ---
  const compiled = new Map();
  function compileOnce(kind, source, build) {
    const cacheKey = kind + "\u0000" + source;
    if (!compiled.has(cacheKey)) {
      let regex = null;
      try {
        regex = build(source);
      } catch (error) {
        console.warn(`[prefetch-lab] ignoring ${kind} ${JSON.stringify(source)}: ${error.message}`);
      }
      compiled.set(cacheKey, regex);
    }
    return compiled.get(cacheKey);
  }
  const pathRegex = (pattern) => compileOnce("path pattern", String(pattern), pathToRegExp);
  const plainRegex = (source) =>
    compileOnce("regex", String(source), (text) =>
      text.startsWith("(?i)") ? new RegExp(text.slice(4), "i") : new RegExp(text)
    );

  // --- Query strings are kept raw (as the edge keys them); only edgio_* pairs are dropped. ---
  const decodeQueryPart = (text) => {
    const spaced = text.replace(/\+/g, " ");
    try {
      return decodeURIComponent(spaced);
    } catch (_) {
      return spaced;
    }
  };
  const splitQuery = (query) => (query ? query.split("&").filter(Boolean) : []);
  const pairName = (pair) => decodeQueryPart(pair.split("=")[0]);
  /** The query without edgio_* pairs; an untouched query is returned as it is (as the edge's
   * strip_edgio_params does), a touched one loses its empty segments. */
  function stripEdgioQuery(query) {
    const pairs = query ? query.split("&") : [];
    const kept = pairs.filter((pair) => !pairName(pair).startsWith(EDGIO_PARAM_PREFIX));
    return kept.length === pairs.length ? query : kept.filter(Boolean).join("&");
  }

  /** The URL the service worker keys its cache by: edgio_* params and the fragment removed. */
  function cacheKeyUrl(url) {
    const parsed = new URL(url, global.location && global.location.href);
    const query = stripEdgioQuery(parsed.search.slice(1));
    return parsed.origin + parsed.pathname + (query ? "?" + query : "");
  }

  /** The first value of query param `name` (decoded), or null when it is absent. */
  function queryValue(query, name) {
    for (const pair of splitQuery(query)) {
      if (pairName(pair) !== name) continue;
      const eq = pair.indexOf("=");
      return eq === -1 ? "" : decodeQueryPart(pair.slice(eq + 1));
    }
    return null;
  }

  // --- EdgeJS conditions, evaluated as Edgio's own client does (@edgio/core 7.13,
  // CacheManifest.getEvalVariableCallback and RulesConditionalVisitor): method is always GET,
  // the scheme is upper-case ("HTTPS"), a query param is its first value and undefined when
  // missing or empty, comparisons are strict, and there is no "not". One difference: the
  // query is taken without edgio_* params and whole (Edgio cuts it at a second "?"), as the
  // edge matches it. ---
  function requestFacts(url) {
    const parsed = new URL(url, global.location && global.location.href);
    const query = stripEdgioQuery(parsed.search.slice(1));
    return { parsed, path: parsed.pathname, query, params: new URLSearchParams(query) };
  }

  function variable(operand, facts) {
    if (operand.request !== undefined) {
      switch (operand.request) {
        case "method":
          return "GET";
        case "path":
        case "origin_path":
          return facts.path;
        case "querystring":
        case "query":
        case "origin_query_string":
          return facts.query === "" ? undefined : facts.query;
        case "scheme":
          return facts.parsed.protocol.replace(":", "").toUpperCase();
      }
    }
    if (operand["request.origin_query"]) return facts.params.get(operand["request.origin_query"]) || undefined;
    if (operand["request.path"]) {
      const part = operand["request.path"];
      if (part === "filename") return facts.path.split("/").pop();
      if (part === "directory") return (facts.path.match(/(.*)[/\\]/) || [])[1];
      if (part === "extension") {
        const extension = facts.path.split(".").pop();
        return extension ? "." + extension : undefined;
      }
    }
    return undefined; // headers, cookies, geo...: unknown in a browser, as in Edgio
  }

  function operand(value, facts) {
    if (value == null || typeof value !== "object" || Array.isArray(value)) return value;
    return variable(value, facts);
  }

  const text = (value) => (value === null || value === undefined ? "" : value.toString());
  const sameText = (left, right) => (left === null || left === undefined ? undefined : left.toString()) === (right === null || right === undefined ? undefined : right.toString());
  const pathTest = (pattern, value) => {
    const regex = pattern ? pathRegex(pattern) : /^.*$/;
    return regex ? regex.test(text(value)) : false;
  };
  const regexTest = (source, value) => {
    const regex = plainRegex(source);
    return regex ? regex.test(text(value)) : false;
  };
  const OPERATORS = {
    "===": (l, r) => l === r,
    "!==": (l, r) => l !== r,
    "==": (l, r) => pathTest(r, l),
    "!=": (l, r) => !pathTest(r, l),
    "=~": (l, r) => regexTest(r, l),
    "!~": (l, r) => !regexTest(r, l),
    "<": (l, r) => Number(l) < Number(r),
    "<=": (l, r) => Number(l) <= Number(r),
    ">": (l, r) => Number(l) > Number(r),
    ">=": (l, r) => Number(l) >= Number(r),
    in: (l, r) => Array.isArray(r) && r.some((item) => sameText(l, item)),
    not_in: (l, r) => !(Array.isArray(r) && r.some((item) => sameText(l, item))),
  };

  /** A condition ({"and": [...]}, {"or": [...]}, {"<operator>": [left, right]}) for a URL's facts.
   * Anything Edgio's visitor would not evaluate (an unknown operator, "not") is false. */
  function evaluate(condition, facts) {
    if (condition === true) return true;
    if (!condition || typeof condition !== "object" || Array.isArray(condition)) return false;
    if (Array.isArray(condition.and)) return condition.and.every((part) => evaluate(part, facts));
    if (Array.isArray(condition.or)) return condition.or.some((part) => evaluate(part, facts));
    const operators = Object.keys(condition);
    if (operators.length !== 1 || !Object.prototype.hasOwnProperty.call(OPERATORS, operators[0])) return false;
    const args = condition[operators[0]];
    if (!Array.isArray(args)) return false;
    const [left, right] = args.map((value) => operand(value, facts));
    return Boolean(OPERATORS[operators[0]](left, right));
  }

  // Objects merge key by key (later wins); arrays and scalars are replaced, as on the edge.
  function mergeFeatures(into, from) {
    for (const [key, value] of Object.entries(from || {})) {
      const current = into[key];
      if (value && typeof value === "object" && !Array.isArray(value) && current && typeof current === "object" && !Array.isArray(current)) {
        into[key] = mergeFeatures({ ...current }, value);
      } else {
        into[key] = value;
      }
    }
    return into;
  }

  /** Merged features of every manifest rule that matches `url` (features.matched lists the rule
   * ids). A rule is {"if": [cond, then, cond2, then2, ..., else]}; `then`/`else` are features or
   * a list of nested rules, as in Edgio's RulesVisitor. */
  function featuresFor(manifest, url) {
    const facts = requestFacts(url);
    const merged = { matched: [] };
    const visitFeatures = (features, id) => {
      if (Array.isArray(features)) return visitRules(features, id);
      if (!features || typeof features !== "object") return;
      if (features.comment && String(features.comment).includes("cache-manifest-ignore")) return;
      mergeFeatures(merged, features);
      if (id) merged.matched.push(id);
    };
    const visitRules = (rules, parentId) => {
      for (const rule of rules || []) {
        if (!rule || typeof rule !== "object") continue;
        if (rule.comment && String(rule.comment).includes("cache-manifest-ignore")) continue;
        const id = parentId || rule.id;
        if (!Array.isArray(rule.if)) {
          if (!("if" in rule)) visitFeatures(rule, id);
          continue;
        }
        for (let i = 0; i < rule.if.length; i += 2) {
          const isLast = i + 2 === rule.if.length - 1;
          if (evaluate(rule.if[i], facts)) {
            visitFeatures(rule.if[i + 1], id);
          } else if (isLast) {
            visitFeatures(rule.if[i + 2], id && id + ":else");
          }
          if (isLast) break;
        }
      }
    };
    visitRules(manifest && manifest.rules);
    return merged;
  }

  /** Edgio's browser-side duration reading (fromTimeUnitAbbrev): s, h, d, m = 30.437 days,
   * y = 12 such months; anything else (w, "1H", no unit) is NaN. A number is taken as seconds
   * (Edgio's client throws on one). */
  function durationSeconds(value) {
    if (typeof value === "number") return value;
    const [, amount, unit] = String(value).match(/(\d+)([a-z]+)/i) || [];
    const units = { s: 1, h: 3600, d: 86400, m: 86400 * 30.437, y: 86400 * 30.437 * 12 };
    return Number(amount) * units[unit];
  }

  /** Edgio's test (CacheManifest.isCacheable): max_age defined, a service_worker_max_age that
   * reads as more than 0 seconds, and no bypass_cache. */
  function isPrefetchable(features) {
    const caching = (features && features.caching) || {};
    return Boolean(
      caching.max_age !== undefined && caching.service_worker_max_age && durationSeconds(caching.service_worker_max_age) > 0 && !caching.bypass_cache
    );
  }

  /** `url` with Edgio's prefetch params, in the order Edgio's window/prefetch.js appends them. */
  function withPrefetchParams(url, { includeCacheMisses = false, forcePrefetchRatio = 0, maxAgeSeconds } = {}) {
    const parsed = new URL(url, global.location && global.location.href);
    const params = ["edgio_dt_pf=1"];
    const forced = forcePrefetchRatio > 0 && Math.random() < forcePrefetchRatio;
    if (!includeCacheMisses && !forced) params.push("edgio_prefetch=1");
    if (maxAgeSeconds !== undefined && maxAgeSeconds !== null && Number(maxAgeSeconds) >= 0) {
      params.push("edgio_prefetch_ttl=" + Math.floor(Number(maxAgeSeconds)));
    }
    const query = parsed.search.slice(1);
    return parsed.origin + parsed.pathname + "?" + (query ? query + "&" : "") + params.join("&");
  }

  global.PrefetchLabRules = Object.freeze({
    pathToRegExp,
    evaluate,
    requestFacts,
    featuresFor,
    isPrefetchable,
    durationSeconds,
    cacheKeyUrl,
    queryValue,
    withPrefetchParams,
  });
})(self);
