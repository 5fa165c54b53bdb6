// The hub's plain HTTP endpoints the widget uses besides the socket.

export function createApi(server) {
  async function json(path, init) {
    const response = await fetch(server + path, { credentials: "omit", ...init });
    if (!response.ok) throw new Error(path + " " + response.status);
    return response.json();
  }
  return {
    searchKb(q, lang) {
      return json("/api/kb/search?" + new URLSearchParams({ q, lang }));
    },
    topKb(lang) {
      return json("/api/kb/top?" + new URLSearchParams({ lang }));
    },
    article(id) {
      return json("/api/kb/articles/" + encodeURIComponent(id));
    },
    offline(body) {
      return json("/api/visitor/offline", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });
    },
  };
}
