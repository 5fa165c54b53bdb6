// The console's service worker: it only shows Web Push messages (an offer that reached the
// agent while no console was in front of them) and opens the console on a click. The push
// payload is JSON from the hub: {"type": "offer", "conversation_id"}; shown as text.
"use strict";

self.addEventListener("push", (event) => {
  let data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch {
    data = {};
  }
  const conv = String(data.conversation_id || "");
  event.waitUntil(
    self.registration.showNotification("New chat offered", {
      body: "Open the console to accept it",
      tag: "offer-" + conv,
      renotify: true,
      requireInteraction: true,
      data: { conversation_id: conv },
    }),
  );
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
