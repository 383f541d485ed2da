/*
 * Eddy's browser tracker. No dependencies, no cookies. Built into dist/eddy.min.js by build.mjs.
 *
 * Configured by data-* attributes on its own <script> tag, so it runs under a strict CSP with no inline
 * code. data-key: the site's public key (required); Eddy's URL is where this file came from.
 * data-transport: auto | websocket | beacon. data-spa: history | hash | off. data-batch: events per
 * message (10). data-interval: ms before a partial batch is sent (1000). data-metrics: comma-separated
 * metric names; samples for other names are not sent. On unless "0": data-auto (pageview on load),
 * data-outbound, data-downloads, data-events (custom events), data-engagement (time on page and scroll
 * depth), data-dnt (honour Do Not Track). Off unless
 * "1": data-localhost, data-automated (track on localhost and in automated browsers, skipped otherwise).
 *
 * API: eddy(name, props, {revenue: {amount, currency}}?) sends a custom event (eddy('pageview') a
 * pageview), with a revenue when given. eddy.metric(name, value,
 * labels) sends a metric sample (POST /api/v1/metrics, the key in X-Api-Key). eddy.identify(user_id,
 * {age_band, gender, plan}) tags this tab's later events (null forgets). localStorage.eddy_ignore = '1'
 * opts this browser out.
 *
 * Delivery: events wait in a queue mirrored to localStorage (at most 200) until Eddy acknowledges them,
 * so neither a closed tab nor an outage loses them: failed sends are retried with backoff, and the next
 * page load of the site takes over queues that earlier pages left. Each event has a random id, so the
 * server stores a re-sent event once. The websocket carries batches {id, events} answered {ack: id} or
 * {nack: id, retry_after?}. Without it (blocked or broken in auto mode, or the beacon transport), and
 * whenever the page is hidden, batches go by fetch with keepalive (the beacon path: it outlives the
 * page) as text/plain JSON {k, events}, which needs no CORS preflight.
 */
((w, d, nav, loc) => {
  var script = d.currentScript || d.querySelector('script[data-key]');
  var data = (script && script.dataset) || {};
  var key = data.key;
  var api = script && script.src.split('/t.js')[0]; // Eddy serves this file
  var transport = data.transport; // unset means auto
  var batchSize = +data.batch || 10;
  var interval = +data.interval || 1000;
  var spa = data.spa; // unset means history
  var declared = data.metrics && data.metrics.split(',');
  var QUEUE = 'eddy_q';
  var HOUR = 36e5;

  var storage = (area, name, value) => {
    // Storage may be missing or throw (privacy modes, a full quota): the tracker then works from memory.
    try {
      area = w[area + 'Storage'];
      return value === undefined ? area.getItem(name) : value ? area.setItem(name, value) : area.removeItem(name);
    } catch (e) {}
  };
  var parse = (text) => {
    try {
      return JSON.parse(text);
    } catch (e) {}
  };
  // Event ids need only be unique per site (the server drops repeats): time plus 52 random bits.
  var uid = () => Date.now().toString(36) + Math.random().toString(36).slice(2);
  var cut = (value, max) => String(value).slice(0, max);
  // Props as the server takes them: flat, at most 30 keys named [A-Za-z0-9_-]; values booleans, finite
  // numbers or bounded text (other numbers become text; objects, null and functions are left out). With
  // `text`, every value becomes short text (metric labels, traits).
  var clean = (object, text) => {
    var out = {};
    var count = 0;
    for (var name in object) {
      var value = object[name];
      var type = typeof value;
      if (count++ < 30 && /^[\w-]{1,64}$/.test(name) && /^[sbn]/.test(type))
        out[name] = !text && (type == 'boolean' || (type == 'number' && isFinite(value))) ? value : cut(value, text ? 64 : 512);
    }
    return out;
  };

  var off =
    !key ||
    storage('local', 'eddy_ignore') ||
    (data.dnt != '0' && nav.doNotTrack == '1') ||
    (data.localhost != '1' && /^(localhost|127\.|\[::1\]$|$)/.test(loc.hostname)) ||
    (data.automated != '1' && nav.webdriver);

  // ---- the queue: every event not yet acknowledged, mirrored to localStorage under this page's key.
  var mine = QUEUE + uid();
  var queue = [];
  var sending = new Set(); // events whose send awaits its answer
  var save = () => {
    queue = queue.slice(-200);
    storage('local', mine, queue[0] ? JSON.stringify(queue) : null);
  };
  var release = (batch) => batch.forEach((event) => sending.delete(event));
  var forget = (batch) => {
    release(batch);
    queue = queue.filter((event) => !batch.includes(event));
    save();
  };

  // ---- transport
  var socket;
  // 1: the websocket failed, use HTTP meanwhile (auto); 2: never use one (the beacon transport).
  var broken = transport == 'beacon' && 2;
  var messageId = 0;
  var inFlight = {}; // websocket message id -> its batch
  var retry = 0; // the current backoff in ms, 0 while deliveries succeed
  var timer;
  var metrics = [];

  var schedule = (delay) => {
    clearTimeout(timer);
    timer = setTimeout(flush, delay);
  };
  var failed = (batch, after) => {
    release(batch);
    retry = Math.min(3e4, retry * 2 || 1e3);
    // Full jitter, so that pages do not come back all at once after an outage; after Retry-After.
    schedule((after * 1e3 || 0) + retry * Math.random());
  };
  // Any other refusal (invalid, unauthorised) would be refused again: such a batch is dropped.
  var answered = (batch, status, after) => {
    if (status == 429 || status > 499) return failed(batch, after);
    if (status < 300) retry = 0;
    forget(batch);
    schedule(0); // whatever waited behind this batch
  };
  var post = (path, body, headers) =>
    fetch(api + path, { method: 'POST', body: JSON.stringify(body), keepalive: true, headers: headers });

  var connect = () => {
    if (socket || broken > 1) return;
    // Keys are [A-Za-z0-9_]: nothing to escape in the URL.
    socket = new WebSocket(api.replace(/^http/, 'ws') + '/ws/collect?k=' + key);
    socket.onopen = () => {
      broken = retry = 0;
      flush();
    };
    socket.onmessage = (message) => {
      var answer = JSON.parse(message.data);
      var id = answer.ack ?? answer.nack;
      var batch = inFlight[id];
      if (batch) {
        delete inFlight[id];
        answered(batch, answer.ack != null ? 200 : answer.retry_after ? 503 : 400, answer.retry_after);
      }
    };
    // A socket blocked by the page's CSP fires only `error`; a failed or lost one `error` then `close`.
    socket.onclose = socket.onerror = (event) => {
      if (event.target != socket) return;
      socket = 0;
      broken = 1;
      for (var id in inFlight) release(inFlight[id]);
      inFlight = {};
      failed([]); // reconnect later, with backoff
    };
  };

  var flush = (hiding) => {
    clearTimeout(timer);
    var samples = metrics.splice(0);
    // Samples that did not reach Eddy (network down) go back to wait for the next try.
    if (samples.length)
      post('/api/v1/metrics', { metrics: samples }, { 'X-Api-Key': key }).catch(() => {
        metrics = samples.concat(metrics).slice(-100);
        failed([]);
      });
    var events = queue.filter((event) => !sending.has(event));
    if (!events.length) return;
    // On page hide the socket may never answer: use HTTP then. Otherwise wait for a connecting socket.
    var open = !hiding && socket && socket.readyState == 1;
    if (!hiding && !open) {
      connect();
      if (!broken || transport == 'websocket') return;
    }
    while (events.length) {
      let batch = events.splice(0, batchSize);
      batch.forEach((event) => sending.add(event));
      if (open) {
        inFlight[++messageId] = batch;
        socket.send(JSON.stringify({ id: messageId, events: batch }));
      } else
        post('/api/v1/collect', { k: key, events: batch }).then(
          (response) => answered(batch, response.status, +response.headers.get('Retry-After')),
          () => failed(batch)
        );
    }
  };

  // ---- events
  var here = () => (spa == 'hash' ? loc.href : loc.href.split('#')[0]);
  var lastUrl;
  var track = (name, props, referrer, url) => {
    if (off) return;
    queue.push({
      id: uid(),
      name: cut(name, 64),
      url: cut(url || here(), 2048),
      referrer: cut(referrer || '', 2048),
      title: cut(d.title, 512),
      ts: Date.now(), // sessions are derived by the server (visitor and 30 idle minutes)
      ...parse(storage('session', 'eddy_u')), // user_id and traits
      screen: screen.width + 'x' + screen.height,
      props: clean(props)
    });
    save();
    queue.length - sending.size < batchSize ? schedule(interval) : flush();
  };
  // ---- engagement of the page on view: time visible and focused (ms) and deepest scroll (% of the page
  // height seen), sent as the event `engagement` {scroll_depth, engaged_ms} for that page when it is left
  // (navigation, hidden, blur) and either grew (time by 3 s or more). engaged_ms counts since the last one.
  var engaged = 0;
  var since;
  var depth = 0;
  var sentDepth;
  var scrolled = () =>
    (depth = Math.max(depth, Math.min(100, Math.round(((w.scrollY + w.innerHeight) * 100) / d.documentElement.scrollHeight)) || 0));
  var tick = (on) => {
    engaged += since ? Date.now() - since : 0;
    since = on && Date.now();
  };
  var engage = () => {
    tick(!d.hidden && d.hasFocus());
    if (lastUrl && data.engagement != '0' && (depth > sentDepth || engaged > 2999)) {
      track('engagement', { scroll_depth: depth, engaged_ms: engaged }, 0, lastUrl);
      sentDepth = depth;
      engaged = 0;
    }
  };
  var pageview = () => {
    var url = here();
    // replaceState without a new URL, or a popstate back to the same URL, is not a new view.
    if (url != lastUrl) {
      engage();
      engaged = depth = 0;
      sentDepth = -1;
      since = Date.now();
      scrolled();
      track('pageview', 0, lastUrl || d.referrer, (lastUrl = url));
    }
  };

  // A revenue ({amount, currency}) travels in props revenue_amount and revenue_currency, ahead of the
  // page's own props so that the 30-key limit never cuts it off.
  var eddy = (w.eddy = (name, props, options) =>
    name == 'pageview'
      ? pageview((lastUrl = 0))
      : data.events != '0' &&
        track(name, {
          ...((options = options && options.revenue) && {
            revenue_amount: +options.amount,
            revenue_currency: String(options.currency).toUpperCase()
          }),
          ...props
        }));
  // The server keeps the traits it knows (age_band, gender, plan) and ignores the rest.
  eddy.identify = (id, traits) =>
    storage('session', 'eddy_u', id == null ? null : JSON.stringify({ user_id: cut(id, 128), traits: clean(traits, 1) }));
  eddy.metric = (name, value, labels) => {
    if (!off && isFinite(value) && (!declared || declared.includes(name))) {
      metrics = metrics.concat({ name: cut(name, 64), value: +value, labels: clean(labels, 1) }).slice(-100);
      schedule(interval);
    }
  };
  if (off) return;

  // Take over the queues earlier pages of this site left (closed tabs, outages). Events over 23 hours
  // old are dropped: the server refuses events more than a day old.
  try {
    Object.keys(localStorage).forEach((name) => {
      if (!name.indexOf(QUEUE)) {
        queue = queue.concat(parse(storage('local', name)) || []);
        storage('local', name, null);
      }
    });
  } catch (e) {}
  queue = queue.filter((event) => event.ts > Date.now() - 23 * HOUR);
  save();

  if (spa != 'off') {
    ['pushState', 'replaceState'].forEach((method) => {
      var original = history[method];
      history[method] = function () {
        var result = original.apply(this, arguments);
        pageview();
        return result;
      };
    });
    // In history mode here() leaves the hash out, so a hash change is no new view.
    ['popstate', 'hashchange'].forEach((type) => w.addEventListener(type, pageview));
  }
  var onClick = (click) => {
    var link = click.target.closest('a[href]');
    if (link && /^http/.test(link.protocol))
      if (
        data.downloads != '0' &&
        (link.hasAttribute('download') || /\.(pdf|zip|t?gz|rar|7z|dmg|exe|apk|csv|xlsx?|docx?|pptx?|mp[34])$/i.test(link.pathname))
      )
        track('download', { url: link.href });
      else if (data.outbound != '0' && link.host != loc.host) track('outbound', { url: link.href });
  };
  ['click', 'auxclick'].forEach((type) => d.addEventListener(type, onClick, true));
  // Hidden (tab switched, closed, app backgrounded) or left (navigation): send what waits now.
  var leave = () => flush(engage() || 1);
  d.addEventListener('visibilitychange', () => (d.hidden ? leave() : tick(d.hasFocus())));
  w.addEventListener('pagehide', leave);
  w.addEventListener('blur', engage);
  w.addEventListener('focus', () => tick(!d.hidden));
  w.addEventListener('scroll', scrolled, { passive: true });
  w.addEventListener('online', () => flush((retry = 0)));
  data.auto != '0' ? pageview() : flush();
})(window, document, navigator, location);
