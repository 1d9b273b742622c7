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
  const stripEdgioQuery = (query) =>
    splitQuery(query).filter((pair) => !pairName(pair).startsWith(EDGIO_PARAM_PREFIX)).join("&");

  /** The URL the service worker keys its cache by: edgio_* params and the fragment removed. */
  function cacheKeyUrl(url) {
    const parsed = new URL(url, global.location && global.location.href);
    const query = stripEdgioQuery(parsed.search.slice(1));
    return parsed.origin + parsed.pathname + (query ? "?" + query : "");
  }

  /** Every value of query param `name` (decoded), or null when it is absent. */
  function queryValues(query, name) {
    const values = [];
    for (const pair of splitQuery(query)) {
      if (pairName(pair) !== name) continue;
      const eq = pair.indexOf("=");
      values.push(eq === -1 ? "" : decodeQueryPart(pair.slice(eq + 1)));
    }
    return values.length ? values : null;
  }

  const queryValue = (query, name) => {
    const values = queryValues(query, name);
    return values ? values[0] : null;
  };

  // --- EdgeJS conditions over what a browser knows about a URL (method is always GET). ---
  function requestFacts(url) {
    const parsed = new URL(url, global.location && global.location.href);
    const path = parsed.pathname;
    const slash = path.lastIndexOf("/");
    const filename = path.slice(slash + 1);
    const dot = filename.lastIndexOf(".");
    return {
      path,
      query: stripEdgioQuery(parsed.search.slice(1)),
      method: "GET",
      scheme: parsed.protocol.replace(/:$/, ""),
      filename,
      directory: path.slice(0, slash + 1),
      extension: dot > 0 ? filename.slice(dot + 1) : "",
    };
  }

  function resolveOperand(operand, facts) {
    if (operand === null || typeof operand !== "object" || Array.isArray(operand)) return operand;
    if ("request" in operand) {
      const field = operand.request;
      if (field === "path" || field === "origin_path") return facts.path;
      if (field === "querystring" || field === "query") return facts.query;
      if (field === "method") return facts.method;
      if (field === "scheme") return facts.scheme;
      return undefined; // headers, cookies, geo...: unknown in a browser, as in Edgio
    }
    if ("request.origin_query" in operand) return queryValues(facts.query, operand["request.origin_query"]); // array or null
    if ("request.path" in operand) return facts[operand["request.path"]];
    return undefined;
  }

  const anyOf = (value, test) => (Array.isArray(value) ? value.some(test) : test(value));

  function evaluate(condition, facts) {
    if (condition === true || condition == null) return true;
    if (typeof condition !== "object") return false;
    const [operator] = Object.keys(condition);
    const args = condition[operator];
    switch (operator) {
      case "and":
        return args.every((part) => evaluate(part, facts));
      case "or":
        return args.some((part) => evaluate(part, facts));
      case "not":
        return !evaluate(Array.isArray(args) ? args[0] : args, facts);
    }
    if (!Array.isArray(args) || args.length !== 2) return false;
    const left = resolveOperand(args[0], facts);
    const right = args[1];
    // A repeated query param holds a condition when any occurrence does (as on the edge).
    const strings = Array.isArray(left) ? left : typeof left === "string" ? [left] : [];
    const absent = left === undefined || left === null;
    switch (operator) {
      case "==":
      case "!=": {
        const matches = strings.some((value) => anyOf(right, (p) => pathRegex(p)?.test(value) ?? false));
        return operator === "==" ? matches : !matches;
      }
      case "=~":
      case "!~": {
        const matches = strings.some((value) => anyOf(right, (p) => plainRegex(p)?.test(value) ?? false));
        return operator === "=~" ? matches : !matches;
      }
      case "===":
      case "!==": {
        const equal = right === null ? absent : strings.includes(right) || left === right;
        return operator === "===" ? equal : !equal;
      }
      case "in":
      case "not_in": {
        const values = Array.isArray(right) ? right : [right];
        const found = values.some((v) => String(v).toUpperCase() === String(left).toUpperCase());
        return operator === "in" ? found : !found;
      }
      case "<":
        return Number(left) < Number(right);
      case ">":
        return Number(left) > Number(right);
      default:
        return false; // an operator we do not know never matches, so nothing is prefetched by mistake
    }
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

  /** Merged features of every manifest rule that matches `url` (features.matched lists the rule ids). */
  function featuresFor(manifest, url) {
    const facts = requestFacts(url);
    const merged = { matched: [] };
    for (const rule of (manifest && manifest.rules) || []) {
      if (!rule || !Array.isArray(rule.if)) continue;
      if (rule.comment && String(rule.comment).includes("cache-manifest-ignore")) continue;
      const [condition, then, otherwise] = rule.if;
      const applies = evaluate(condition, facts);
      const features = applies ? then : otherwise;
      if (!features) continue;
      mergeFeatures(merged, features);
      if (rule.id) merged.matched.push(applies ? rule.id : rule.id + ":else");
    }
    return merged;
  }

  /** Edgio's test: max_age set, a positive service_worker_max_age, and no bypass_cache. */
  function isPrefetchable(features) {
    const caching = (features && features.caching) || {};
    return caching.max_age !== undefined && caching.max_age !== null && Number(caching.service_worker_max_age) > 0 && !caching.bypass_cache;
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
    cacheKeyUrl,
    queryValue,
    withPrefetchParams,
  });
})(self);
