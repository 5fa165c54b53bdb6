// The console's service worker: it only shows Web Push messages (an offer, or a visitor's
// new messages in a chat of the agent's, that reached the agent while no console was in
// front of them) and opens the console on a click. The push payload is JSON from the hub:
// {"type": "offer", "conversation_id"} or {"type": "messages", "conversation_id", "count"};
// shown as text.
"use strict";

self.addEventListener("push", (event) => {
  let data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch {
    data = {};
  }
  const conv = String(data.conversation_id || "");
  let shown;
  if (data.type === "messages") {
    const count = Number(data.count) || 1;
    // One notification per chat: a later batch replaces the earlier one.
    shown = self.registration.showNotification("New messages in your chat", {
      body: count === 1 ? "A visitor wrote to you" : count + " messages from a visitor",
      tag: "messages-" + conv,
      renotify: true,
      data: { conversation_id: conv },
    });
  } else {
    shown = self.registration.showNotification("New chat offered", {
      body: "Open the console to accept it",
      tag: "offer-" + conv,
      renotify: true,
      requireInteraction: true,
      data: { conversation_id: conv },
    });
  }
  event.waitUntil(shown);
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  event.waitUntil(
    (async () => {
      const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
      const console_ = windows.find((w) => new URL(w.url).pathname === "/agent");
      if (console_) return console_.focus();
      return self.clients.openWindow("/agent");
    })(),
  );
});
