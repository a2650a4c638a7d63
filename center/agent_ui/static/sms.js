// SMS in the agent console: the pane says it is a text conversation, each outbound text
// shows its delivery (outbox: queued → sent; Twilio: queued, sent, delivered, undelivered,
// failed with its error code), inbound media are links, STOP/START are said plainly.
// Loaded before agent.js, which announces its socket, panes and messages (center:* events).
// Everything from customers or Twilio is inserted with textContent (never innerHTML).
(() => {
  const byMessage = new Map(); // message id -> {el, message}

  function statusText(m) {
    const sms = m.sms || {};
    const d = m.delivery || {};
    if (d.status === "failed") return `not sent: ${d.reason || "failed"}`;
    if (sms.status) return sms.error_code ? `${sms.status} (error ${sms.error_code})` : sms.status;
    if (d.status === "queued" && d.reason) return `retrying: ${d.reason}`;
    return d.status || "";
  }

  function showStatus(entry) {
    let span = entry.el.querySelector(".delivery");
    if (!span) {
      span = document.createElement("span");
      span.className = "delivery muted";
      entry.el.appendChild(span);
    }
    const text = statusText(entry.message);
    span.textContent = text;
    const bad = /^(not sent|undelivered|failed)/.test(text);
    span.classList.toggle("error", bad);
    showResend(entry);
  }

  // A reply the outbox gave up on (Twilio refused it, or no answer) may be sent again: the
  // same outbox row back to queued (POST /api/outbox/{id}/resend, as the tickets pane does).
  function showResend(entry) {
    const m = entry.message;
    const outboxId = (m.sms || {}).outbox_id;
    let button = entry.el.querySelector(".resend");
    const failed = (m.delivery || {}).status === "failed" && outboxId;
    if (!failed) { if (button) button.remove(); return; }
    if (button) return;
    button = document.createElement("button");
    button.type = "button";
    button.className = "resend";
    button.textContent = "Resend";
    button.addEventListener("click", async () => {
      button.disabled = true;
      const before = entry.message;
      const res = await fetch(`/api/outbox/${outboxId}/resend`, { method: "POST" }).catch(() => null);
      const body = res ? await res.json().catch(() => ({})) : { error: "the server did not answer" };
      if (!res || !res.ok) {
        button.disabled = false;
        entry.el.querySelector(".delivery").textContent = `resend refused: ${body.error || res.status}`;
        return;
      }
      // The worker may have sent it and pushed "sent" before this answer arrived (the push
      // and the response race): only a message nothing has updated meanwhile says queued.
      if (entry.message !== before) return;
      entry.message = { ...before, delivery: { status: "queued", attempts: (before.delivery || {}).attempts } };
      showStatus(entry); // (the worker's pushes follow: sent, then Twilio's statuses)
    });
    entry.el.appendChild(button);
  }

  function addMedia(el, media) {
    for (const item of media || []) {
      let url;
      try { url = new URL(item.url); } catch { continue; }
      if (url.protocol !== "https:" && url.protocol !== "http:") continue;
      const a = document.createElement("a");
      a.href = url.href;
      a.target = "_blank";
      a.rel = "noopener noreferrer";
      a.className = "media";
      a.textContent = `attachment (${item.content_type || "file"})`;
      el.appendChild(a);
    }
  }

  document.addEventListener("center:message", (e) => {
    const { message: m, el } = e.detail;
    if (!m.sms && !(m.media && m.media.length)) return;
    addMedia(el, m.media);
    if (m.direction === "outbound") {
      const entry = { el, message: m };
      byMessage.set(m.id, entry);
      showStatus(entry);
    }
  });

  document.addEventListener("center:pane", (e) => {
    const { pane, interaction: i } = e.detail;
    if (i.channel !== "sms") return;
    pane.classList.add("sms");
    pane.querySelector(".title").textContent = `SMS #${i.id} · customer ${i.customer_id}`;
  });

  document.addEventListener("center:socket", (e) => {
    const { socket, panes } = e.detail;
    socket.on("delivery", (d) => {
      const entry = byMessage.get(d.message_id);
      if (!entry) return;
      entry.message = { ...entry.message, delivery: d.delivery };
      showStatus(entry);
    });
    socket.on("sms_status", (d) => {
      const entry = byMessage.get(d.message_id);
      if (!entry) return;
      const sms = { ...(entry.message.sms || {}), status: d.status, error_code: d.error_code };
      entry.message = { ...entry.message, sms };
      showStatus(entry);
    });
    socket.on("sms_keyword", (d) => {
      const pane = panes.get(d.interaction_id);
      if (!pane) return;
      const note = document.createElement("div");
      note.className = "muted notice";
      note.textContent = d.keyword === "STOP"
        ? `${d.phone} opted out (STOP): no text can be sent until they reply START.`
        : d.keyword === "START" ? `${d.phone} opted back in (START).` : `${d.phone} asked for HELP.`;
      pane.querySelector(".log").appendChild(note);
      pane.querySelector(".state").textContent = d.keyword === "STOP" ? "opted out" : "";
    });
  });
})();
