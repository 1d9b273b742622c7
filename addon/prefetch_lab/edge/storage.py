"""Storing origin answers in the edge cache: the storage decision with the rules' caching
features, the prediction a streamed response is sent with, and the store itself (one
`cache-store` or `cache-bypass` trail record each). Shared by stages.stream, stages.store and
stages.revalidate.
"""

from __future__ import annotations

import dataclasses
import functools
import time

from mitmproxy import http

from prefetch_lab.edge import headers as header_reads
from prefetch_lab.edge import responses
from prefetch_lab.edge.context import EdgeContext, FlowState, note
from prefetch_lab.http import cachepolicy
from prefetch_lab.http.cachestore import CacheEntry, cookie_names, vary_for
from prefetch_lab.http.stale_window import is_origin_error
from prefetch_lab.rules.model import Features


def rule_caching(features: Features) -> cachepolicy.RuleCaching:
    return _rule_caching(features.max_age, features.stale_while_revalidate, features.stale_if_error, features.bypass_cache,
                         features.ignore_origin_no_cache, features.cacheable_status_codes,
                         features.cache_key_ignore_cookies)


@functools.lru_cache(maxsize=1024)
def _rule_caching(max_age, stale_while_revalidate, stale_if_error, bypass_cache, ignore_origin_no_cache, cacheable_status_codes,
                  ignore_cookies) -> cachepolicy.RuleCaching:
    # A few distinct rule results recur on every request: one frozen object each (building one
    # per request cost more than the storage decision's own checks).
    return cachepolicy.RuleCaching(
        max_age=max_age, stale_while_revalidate=stale_while_revalidate, stale_if_error=stale_if_error,
        bypass_cache=bypass_cache, ignore_origin_no_cache=ignore_origin_no_cache,
        cacheable_status_codes=cacheable_status_codes, ignore_cookies=ignore_cookies,
    )


def decide(edge: EdgeContext, flow: http.HTTPFlow, state: FlowState, response_headers, length: int,
           request_headers=None, status: int | None = None, method: str | None = None) -> cachepolicy.StorageDecision:
    if request_headers is None:
        request_headers = header_reads.pairs(flow.request.headers)
    return cachepolicy.storage_decision(
        method or flow.request.method, status or flow.response.status_code,
        request_headers + list(state.client_validators.items()), response_headers, rule_caching(state.features),
        length, edge.store.max_object_size, time.time(), edge.rules_active,
    )


def predict(edge: EdgeContext, flow: http.HTTPFlow, state: FlowState, response_headers, length: int | None) -> tuple[str, bool]:
    """Decided on headers, for a streamed response: (caching status it is sent with, whether
    to keep its body for the cache). The trail records what happened once the body is in."""
    if state.features.bypass_cache or not edge.options.cache_enabled:
        return "bypassed", False
    decision = decide(edge, flow, state, response_headers, length or 0)
    if not decision.store:
        return decision.caching_status, False
    by_cookie = decision.by_cookies and cookie_names(header_reads.pairs(flow.request.headers))
    return ("cached-per-cookie" if by_cookie else "cached"), True


def store_response(edge: EdgeContext, flow: http.HTTPFlow, state: FlowState, body: bytes, response_headers,
                   too_big: bool = False) -> str:
    """Store what the origin sent if the edge may; records one cache-store or cache-bypass."""
    resp = flow.response
    if state.features.bypass_cache or not edge.options.cache_enabled:
        edge.record("cache-bypass", flow, status=resp.status_code, caching_status="bypassed",
                    reason=None if edge.options.cache_enabled else "cache disabled")
        return "bypassed"
    request_headers = header_reads.pairs(flow.request.headers)
    decision = decide(edge, flow, state, response_headers, len(body), request_headers)
    if decision.store and _answers_for_an_error(edge, state, resp.status_code, request_headers):
        decision = dataclasses.replace(decision, store=False, caching_status="code",
                                       reason="an origin error does not replace an entry inside its stale-if-error window")
    if decision.store and not too_big:
        stored = _put(edge, flow, state, decision, body, response_headers, request_headers)
        if stored:
            return stored
    status = "body-too-big" if decision.store else decision.caching_status
    reason = "streamed past the object size limit" if too_big else decision.reason or None
    edge.record("cache-bypass", flow, status=resp.status_code, caching_status=status, reason=reason)
    return status


def _answers_for_an_error(edge: EdgeContext, state: FlowState, status: int, request_headers) -> bool:
    # A 5xx with its own max-age (RFC mode stores it) must not displace the entry that stale-if-error serves instead.
    if not is_origin_error(status):
        return False
    entry = edge.store.find(state.key, request_headers)
    return entry is not None and entry.within_stale_if_error(time.time())


def _put(edge, flow, state, decision, body, response_headers, request_headers) -> str | None:
    resp = flow.response
    entry = CacheEntry(
        key=state.key, status=resp.status_code, headers=responses.storable_headers(response_headers, len(body)),
        body=body, stored_at=time.time(), initial_age=decision.initial_age, ttl=decision.ttl, swr=decision.swr,
        vary=vary_for(response_headers, request_headers, decision.by_cookies), rules=state.features.matched,
        sie=decision.sie,
    )
    if not edge.store.put(entry):
        return None
    # Only the request's own cookies (minus analytics ones) will get this entry.
    cookies = cookie_names(request_headers) if decision.by_cookies else []
    status = "cached-per-cookie" if cookies else "cached"
    if not state.background:
        note(flow, "stored", f"stored in the edge cache for {decision.ttl}s")
    edge.record("cache-store", flow, status=resp.status_code, caching_status=status, ttl=decision.ttl,
                swr=decision.swr, size=len(body), cookies=cookies or None)
    return status


def background_done(edge: EdgeContext, flow: http.HTTPFlow, state: FlowState) -> None:
    """The edge's own fetch is over: free its key's revalidation lock and its slot."""
    edge.store.end_revalidation(state.key)
    edge.origin.background_done(flow)


def background_fetch_once(edge: EdgeContext, flow: http.HTTPFlow, state: FlowState, purpose: str) -> None:
    """One background fetch per key at a time, however many requests ask for it."""
    if edge.store.begin_revalidation(state.key, time.time()):
        key = state.key
        if not edge.origin.fetch(flow, purpose, lambda: edge.store.end_revalidation(key)):
            edge.store.end_revalidation(key)
