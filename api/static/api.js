// The public HTTP API, with the API key this page was given (kept for this tab only).
"use strict";

window.predq = (function () {
  const KEY_ITEM = "predq.apiKey";

  class ApiError extends Error {
    constructor(status, problem) {
      super(problem && problem.detail ? problem.detail : "HTTP " + status);
      this.status = status;
      this.problem = problem;
    }
  }

  function key() {
    return sessionStorage.getItem(KEY_ITEM) || "";
  }

  function setKey(value) {
    if (value) sessionStorage.setItem(KEY_ITEM, value);
    else sessionStorage.removeItem(KEY_ITEM);
  }

  async function request(method, path, body, contentType) {
    const headers = {};
    if (key()) headers["Authorization"] = "Bearer " + key();
    if (contentType) headers["Content-Type"] = contentType;
    const answer = await fetch(path, { method: method, headers: headers, body: body });
    if (!answer.ok) {
      let problem = null;
      try { problem = await answer.json(); } catch (_) { /* not JSON */ }
      throw new ApiError(answer.status, problem);
    }
    return answer;
  }

  async function json(method, path, body, contentType) {
    return (await request(method, path, body, contentType)).json();
  }

  return { key, setKey, request, json, ApiError };
})();
