// Customer chat widget. Everything shown is set with textContent: no HTML from the wire.
// A page embedding the widget may set window.CENTER_CHAT = {name, email, identity_hash}
// before this script (identity_hash: see the README; without it the email is a claim).
(() => {
  const $ = (id) => document.getElementById(id);
  const tokenKey = "center.visitor";
  const who = window.CENTER_CHAT || {};
  const socket = io("/chat", {
    transports: ["websocket"],
    auth: (cb) => cb({
      token: localStorage.getItem(tokenKey) || undefined,
      name: who.name, email: who.email, identity_hash: who.identity_hash,
    }),
  });
  // The chat on screen: its id once the server has one, and whether it has ended. After
  // the end nothing can be typed until the customer asks for a new chat, so a message
  // never silently starts one under a "closed" status.
  let current = null;
  let ended = false;
  let endedStatus = "";
  const over = new Set();  // ids of chats that ended on this page

  const status = (text) => { $("status").textContent = text; };
  const add = (direction, body, who) => {
    const div = document.createElement("div");
    div.className = `msg ${direction}`;
    div.textContent = who ? `${who}: ${body}` : body;
    $("log").appendChild(div);
    $("log").scrollTop = $("log").scrollHeight;
    return div;
  };
  const note = (text) => {
    const div = document.createElement("div");
    div.className = "muted";
    div.textContent = text;
    $("log").appendChild(div);
  };
  const queuedNote = (position) => note(position
    ? `You are number ${position} in the queue.` : "You were placed in the queue.");
  const joinedNote = (agent) => note(`${agent} joined the chat.`);
  // Events about another chat (one this customer ended) are not this one's.
  const ours = (d) => !ended && !over.has(d.interaction_id)
    && (current === null || d.interaction_id === current);

  function setEnded(text, state) {
    ended = true;
    endedStatus = state;
    if (current !== null) over.add(current);
    if (text) note(text);
    status(state);
    $("text").disabled = true;
    $("text").placeholder = "This chat has ended.";
    $("send").disabled = true;
    $("leave").hidden = true;
    $("typing").textContent = "";
    $("articles").hidden = true;
    $("restart").hidden = false;
    $("restart").focus();
  }

  function startOver() {
    current = null;
    ended = false;
    $("log").textContent = "";
    $("error").textContent = "";
    $("restart").hidden = true;
    $("leave").hidden = false;
    $("text").disabled = false;
    $("text").placeholder = "Type your message…";
    $("send").disabled = false;
    status("connected");
    $("text").focus();
  }

  // (Each connection gets a welcome, which sets the status: socket.io delivers it before
  // its own "connect" event.)
  socket.on("disconnect", () => status("reconnecting…"));
  socket.on("welcome", (w) => {
    localStorage.setItem(tokenKey, w.token);
    const chat = w.interaction;
    if (ended) {  // the customer is looking at an ended chat: leave it on screen
      status(endedStatus);
      return;
    }
    if (current !== null && (!chat || chat.id !== current)) {
      // Back after a long disconnect and the chat is over meanwhile.
      setEnded("This chat has ended.", "closed");
      return;
    }
    $("log").textContent = "";
    current = chat ? chat.id : null;
    for (const e of w.transcript || []) {
      if (e.kind === "message") add(e.direction, e.body, e.author);
      else if (e.kind === "queued") queuedNote(e.position);
      else if (e.kind === "agent_joined") joinedNote(e.agent);
    }
    status(chat && chat.state === "assigned" ? "with an agent" : "connected");
  });
  socket.on("articles", (d) => {
    if (!ours(d)) return;
    // Deflection: answers from the help center before an agent is needed.
    const box = $("articles");
    box.textContent = "";
    const head = document.createElement("div");
    head.textContent = "These articles may answer your question:";
    box.appendChild(head);
    for (const a of d.articles) {
      const item = document.createElement("div");
      const link = document.createElement("a");
      link.href = a.url;
      link.target = "_blank";
      link.rel = "noopener";
      link.textContent = a.title;
      link.className = "article";
      link.addEventListener("click", () => socket.emit("article_opened", { article_id: a.id }));
      item.appendChild(link);
      if (a.answer) {
        const answer = document.createElement("div");
        answer.className = "muted";
        answer.textContent = a.answer;
        item.appendChild(answer);
      }
      box.appendChild(item);
    }
    const ask = document.createElement("button");
    ask.id = "escalate";
    ask.type = "button";
    ask.textContent = "I still need help: talk to an agent";
    ask.addEventListener("click", () => socket.emit("escalate", {}, () => { box.hidden = true; }));
    box.appendChild(ask);
    box.hidden = false;
  });
  socket.on("queued", (d) => {
    if (!ours(d)) return;
    $("articles").hidden = true;
    queuedNote(d.position);
  });
  socket.on("agent_joined", (d) => {
    if (!ours(d)) return;
    joinedNote(d.agent);
    status("with an agent");
  });
  socket.on("message", (m) => {
    if (!ours(m)) return;
    $("typing").textContent = "";
    add("outbound", m.body, m.author);
  });
  let typingTimer;
  socket.on("agent_typing", (d) => {
    if (!ours(d)) return;
    $("typing").textContent = `${d.agent} is typing…`;
    clearTimeout(typingTimer);
    typingTimer = setTimeout(() => { $("typing").textContent = ""; }, 3000);
  });
  socket.on("closed", (d) => {
    if (ours(d)) setEnded("The agent closed this chat. Thank you!", "closed");
  });
  socket.on("error", (e) => { $("error").textContent = e.error || "something went wrong"; });

  let lastTyping = 0;
  $("text").addEventListener("input", () => {
    const now = Date.now();
    if (now - lastTyping > 2000) { lastTyping = now; socket.emit("typing", {}); }
  });
  $("form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    if (ended) return;
    const text = $("text").value.trim();
    if (!text) return;
    $("error").textContent = "";
    // Shown at once (so it sits above "you are number 1 in the queue"), confirmed by the
    // acknowledgement, which comes only once the message is stored.
    const line = add("inbound pending", text);
    $("text").value = "";
    socket.emit("message", { text }, (ack) => {
      if (ack && ack.ok) {
        current = ack.interaction_id;
        line.classList.remove("pending");
        return;
      }
      line.classList.replace("pending", "failed");
      $("text").value = text;
      $("error").textContent = (ack && ack.error) || "not sent";
    });
  });
  $("leave").addEventListener("click", () => {
    socket.emit("leave", {}, (ack) => {
      if (ack && ack.ok) setEnded("You left the chat.", "left");
      else $("error").textContent = (ack && ack.error) || "could not end the chat";
    });
  });
  $("restart").addEventListener("click", startOver);
})();

// Arriving from the help centre's "Contact us" (/chat?q=...): what the customer searched
// for is the first message, ready to send or edit.
(() => {
  const q = new URLSearchParams(location.search).get("q");
  const box = document.getElementById("text");
  if (q && box && !box.value) box.value = q.slice(0, 4000);
})();
