// Engine Manager dashboard: the task table follows the WebSocket event stream,
// forms come from GET /actions, and nothing here needs a build step.
'use strict';

(function () {
  const MAX_ROWS = 200;
  const RECONNECT_MAX_MS = 10000;
  const DEVICE_POLL_BUSY_MS = 1000;
  const DEVICE_POLL_IDLE_MS = 10000;
  // GET /queue while the queue may be held (no event says so): while it is,
  // and while a task that could start now waits in a queue that is not paused
  const QUEUE_POLL_MS = 5000;
  // a task's GET /tasks/{id} while it fails
  const FETCH_ATTEMPTS = 6;
  const FETCH_DELAY_MAX_MS = 30000;
  // the longest a timer waits for a task's run_at (setTimeout's own limit is
  // under 25 days, and a longer delay would fire at once)
  const RUN_AT_WAKE_MAX_MS = 3600000;
  // a listing of the tasks that failed is asked again after these, doubling
  const SNAPSHOT_RETRY_MIN_MS = 1000;
  const SNAPSHOT_RETRY_MAX_MS = 30000;
  // the pages of pending tasks a look for their run_at reads at most, of
  // PENDING_PAGE tasks each (GET /tasks's largest limit)
  const PENDING_PAGE = 1000;
  const PENDING_PAGES_MAX = 10;
  const STATUS_RANK = { pending: 0, running: 1, completed: 2, failed: 2, cancelled: 2 };

  // a backoff's wait, somewhere between half of @ms and all of it: pages
  // that lost the service together (a restart) would otherwise all come
  // back in the same instant, again and again
  function spread (ms) {
    return ms / 2 + Math.random() * ms / 2;
  }

  // --- translation: strings are marked with _() so that xgettext sees them
  // and po/de.po holds the same translations as i18n.js

  function pickLanguage () {
    const tables = window.EM_TRANSLATIONS || {};
    const wanted = navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language || 'en'];
    for (const tag of wanted) {
      const lower = String(tag).toLowerCase();
      if (lower === 'en' || lower.startsWith('en-')) return 'en';
      if (tables[lower]) return lower;
      const primary = lower.split('-')[0];
      if (tables[primary]) return primary;
    }
    return 'en';
  }

  const language = pickLanguage();
  const table = (window.EM_TRANSLATIONS || {})[language] || {};

  function _ (text) {
    return Object.prototype.hasOwnProperty.call(table, text) ? table[text] : text;
  }

  // "%s" placeholders, filled in order
  function format (text, ...args) {
    let i = 0;
    return text.replace(/%s/g, () => String(args[i++]));
  }

  const STATUS_LABELS = {
    pending: _('pending'),
    running: _('running'),
    completed: _('completed'),
    failed: _('failed'),
    cancelled: _('cancelled')
  };

  // --- state

  // id → what the page shows of a task (see keptOf), not the whole task: a
  // tile scan's result alone can be several MiB
  const tasks = new Map();
  // id → the events of a task fetched on its way, for after the answer
  const fetching = new Map();
  let connection = 'connecting'; // the badge's state
  let lastSeq = 0;
  let lastFrame = null; // the frame of lastSeq, as the service sent it
  let socket = null;
  let reconnectDelay = 500;
  let snapshotPending = null; // events buffered while a snapshot loads
  // a reload asked for while a snapshot loads: that one may predate what it is for
  let snapshotAgain = false;
  // the table is not what the service lists: the last listing failed
  let listingStale = false;
  let snapshotRetryTimer = null;
  let snapshotRetryDelay = SNAPSHOT_RETRY_MIN_MS;
  let actions = [];
  let actionsLoaded = false; // GET /actions answered with the list
  let latestImageTask = null;
  let devicesTimer = null;
  let devicesInFlight = false;
  let queueAvailable = true;
  // queue events applied: an answer asked for before the last one is older
  let queueEvents = 0;
  let queuePaused = false;
  let queueHeld = null; // null, or why ready tasks do not start ("store")
  let queueTimer = null;
  let runAtTimer = null; // for the next run_at of a pending task
  let learning = false; // a listing of pending tasks for their run_at is on its way
  let imageUrl = null; // object URL of the image shown

  const $ = (id) => document.getElementById(id);

  // --- the token, for a service started with one: kept for this tab only,
  // sent as Authorization, and on the WebSocket, where a browser cannot set
  // headers, as access_token

  const TOKEN_KEY = 'engine-manager-token';
  let token = readToken();
  let locked = false;

  function readToken () {
    try {
      return sessionStorage.getItem(TOKEN_KEY);
    } catch (error) {
      return null;
    }
  }

  function storeToken (value) {
    token = value;
    try {
      if (value) sessionStorage.setItem(TOKEN_KEY, value);
      else sessionStorage.removeItem(TOKEN_KEY);
    } catch (error) {
      // no storage: the token lasts until the page goes
    }
  }

  function authorize (headers) {
    if (token) headers.Authorization = 'Bearer ' + token;
    return headers;
  }

  // a 401: show the form, and stop everything else until a token works. A
  // refusal of a token the user has replaced since (a request still on its
  // way when the next token was given) says nothing of the new one
  function askForToken (response, sent) {
    if (sent !== token) return;
    const wrong = /invalid_token/.test(response.headers.get('WWW-Authenticate') || '');
    if (wrong) storeToken(null);
    if (!locked) {
      locked = true;
      $('main').hidden = true;
      $('token-panel').hidden = false;
      $('forget-token').hidden = true;
      setConnection('locked');
      if (socket) {
        // its close event comes later, when a token may have opened the next
        const closing = socket;
        socket = null;
        closing.close();
      }
      $('token-input').focus();
    }
    if (wrong) setText('token-message', _('The token was not accepted.'));
  }

  function unlock (value) {
    storeToken(value);
    locked = false;
    setText('token-message', '');
    $('token-input').value = '';
    $('token-panel').hidden = true;
    $('main').hidden = false;
    $('forget-token').hidden = !token;
    load();
  }

  // --- HTTP

  async function api (method, path, body) {
    const sent = token;
    const init = { method, headers: authorize({ Accept: 'application/json' }) };
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const response = await fetch(path, init);
    if (response.status === 401) askForToken(response, sent);
    let data = null;
    const type = response.headers.get('Content-Type') || '';
    if (type.includes('json')) data = await response.json();
    return { ok: response.ok, status: response.status, data, headers: response.headers };
  }

  // a file the page shows or offers, fetched with the token
  async function fetchFile (path) {
    const sent = token;
    const response = await fetch(path, { headers: authorize({}) });
    if (response.status === 401) askForToken(response, sent);
    return response.ok ? response.blob() : null;
  }

  function problemText (result) {
    if (result.data && typeof result.data.detail === 'string') return result.data.detail;
    if (result.data && typeof result.data.title === 'string') return result.data.title;
    return format(_('The service answered %s'), result.status);
  }

  // --- static text

  // the same text again is left alone: a live region would announce it anew
  function setText (id, text) {
    const element = $(id);
    if (element && element.textContent !== text) element.textContent = text;
  }

  function renderStaticText () {
    document.documentElement.lang = language;
    document.title = _('Engine Manager');
    setText('app-title', _('Engine Manager'));
    setText('tasks-title', _('Tasks'));
    setText('col-name', _('Name'));
    setText('col-action', _('Action'));
    setText('col-status', _('Status'));
    setText('col-created', _('Created'));
    $('col-cancel').firstElementChild.textContent = _('Cancel');
    setText('no-tasks', _('No tasks yet. Submit one with the form.'));
    setText('submit-title', _('Submit a task'));
    setText('action-label', _('Action'));
    setText('queue-title', _('Queue'));
    setText('queue-pause', _('Pause'));
    setText('queue-resume', _('Resume'));
    setText('devices-title', _('Devices'));
    setText('stage-label', _('Stage'));
    setText('focus-label', _('Focus'));
    setText('camera-label', _('Camera'));
    setText('image-title', _('Latest image'));
    setText('image-caption', _('No image captured yet.'));
    setText('token-title', _('Token needed'));
    setText('token-help', _('This service needs its token. It is kept in this tab until the tab is closed.'));
    setText('token-label', _('Token'));
    setText('token-submit', _('Use token'));
    setText('forget-token', _('Forget token'));
  }

  function setConnection (state) {
    const badge = $('connection');
    const labels = {
      live: [_('Live'), 'ok'],
      connecting: [_('Connecting…'), 'warn'],
      offline: [_('Offline, reconnecting…'), 'bad'],
      refused: [_('No live updates, retrying…'), 'warn'],
      locked: [_('Token needed'), 'warn']
    };
    const [text, cls] = labels[state];
    badge.textContent = text;
    badge.className = 'badge ' + cls;
    badge.dataset.state = state;
    connection = state;
    scheduleQueuePoll();
  }

  // --- task table

  // one formatter for every row: toLocaleTimeString() builds one per call,
  // a tenth of a millisecond each
  const timeFormat = new Intl.DateTimeFormat(language, { hour: '2-digit', minute: '2-digit', second: '2-digit' });

  function formatTime (text) {
    if (!text) return '';
    const date = new Date(text);
    if (Number.isNaN(date.getTime())) return text;
    return timeFormat.format(date);
  }

  function isActive (task) {
    return task.status === 'pending' || task.status === 'running';
  }

  function rowFor (task) {
    let row = document.getElementById('task-' + task.id);
    if (row) return row;
    row = document.createElement('tr');
    row.id = 'task-' + task.id;
    row.dataset.taskId = task.id;

    const name = document.createElement('td');
    name.className = 'name';
    const action = document.createElement('td');
    action.className = 'action';
    const status = document.createElement('td');
    const statusBox = document.createElement('div');
    statusBox.className = 'status';
    const label = document.createElement('span');
    label.className = 'status-label';
    const progress = document.createElement('progress');
    progress.max = 1;
    statusBox.append(label, progress);
    const error = document.createElement('span');
    error.className = 'error';
    status.append(statusBox, error);
    const created = document.createElement('td');
    created.className = 'created';
    const cancelCell = document.createElement('td');
    const cancel = document.createElement('button');
    cancel.type = 'button';
    cancel.className = 'cancel';
    cancel.textContent = _('Cancel');
    cancel.addEventListener('click', () => cancelTask(task.id, cancel));
    cancelCell.append(cancel);

    row.append(name, action, status, created, cancelCell);
    return row;
  }

  function renderTask (task) {
    const rows = $('task-rows');
    const row = rowFor(task);
    row.dataset.status = task.status;
    const progress = row.querySelector('progress');
    const cancel = row.querySelector('button.cancel');
    // what changes seldom is written when it does: an event changes the
    // status, and formatting a time or a label for each of thousands of
    // events kept a page with a large batch seconds behind
    const name = task.name ?? '';
    const action = task.action ?? '';
    const created = task.created_at ?? '';
    if (row.dataset.name !== name) {
      row.dataset.name = name;
      row.querySelector('.name').textContent = name;
      progress.setAttribute('aria-label', format(_('Progress of “%s”'), name));
      cancel.setAttribute('aria-label', format(_('Cancel “%s”'), name));
    }
    if (row.dataset.action !== action) {
      row.dataset.action = action;
      row.querySelector('.action').textContent = action;
    }
    if (row.dataset.createdAt !== created) {
      row.dataset.createdAt = created;
      row.querySelector('.created').textContent = formatTime(created);
    }
    row.querySelector('.status-label').textContent = STATUS_LABELS[task.status] || task.status;
    progress.hidden = task.status !== 'running';
    progress.value = typeof task.progress === 'number' ? task.progress : 0;
    row.querySelector('.error').textContent = task.error || '';
    if (!isActive(task) && document.activeElement === cancel) {
      // the button goes with the task's end: its row keeps the focus, which
      // would otherwise fall back to the start of the page
      row.tabIndex = -1;
      row.focus();
    }
    cancel.hidden = !isActive(task);
    if (!row.parentNode) {
      // newest first: a task fetched for an event (one from before the
      // listing's window) goes where its created_at puts it, not at the top
      let before = rows.rows[0] || null;
      while (before && isNewer(tasks.get(before.dataset.taskId), task)) before = before.nextElementSibling;
      rows.insertBefore(row, before);
    }
    scheduleTidy();
  }

  // the pruning and the counts, which go over every row and task, once for
  // all the events of a frame rather than once for each: a batch of 5 000
  // tasks was 15 000 passes over a table of thousands of rows
  let tidyPending = false;
  function scheduleTidy () {
    if (tidyPending) return;
    tidyPending = true;
    const tidy = () => {
      tidyPending = false;
      pruneRows();
      updateCounts();
    };
    // a hidden page draws no frames
    if (document.hidden) setTimeout(tidy, 100);
    else requestAnimationFrame(tidy);
  }

  function isNewer (a, b) {
    const ta = a && a.created_at ? Date.parse(a.created_at) : NaN;
    const tb = b && b.created_at ? Date.parse(b.created_at) : NaN;
    if (Number.isNaN(ta) || Number.isNaN(tb)) return false;
    if (ta !== tb) return ta > tb;
    return a.created_at > b.created_at;
  }

  // past MAX_ROWS, the oldest rows of ended tasks go; a pending or running
  // task keeps its row (and its cancel button), or each of its events would
  // fetch it again only for it to go at once
  function pruneRows () {
    const rows = $('task-rows');
    let candidate = rows.rows[rows.rows.length - 1] || null;
    while (rows.rows.length > MAX_ROWS && candidate) {
      const previous = candidate.previousElementSibling;
      const task = tasks.get(candidate.dataset.taskId);
      if (!task || !isActive(task)) {
        tasks.delete(candidate.dataset.taskId);
        candidate.remove();
      }
      candidate = previous;
    }
  }

  function updateCounts () {
    const count = $('task-rows').rows.length;
    $('no-tasks').hidden = count > 0;
    let active = 0;
    for (const task of tasks.values()) if (isActive(task)) active++;
    setText('task-count', format(_('%s shown, %s active'), count, active));
    scheduleDevicePoll();
    scheduleQueuePoll();
  }

  // what the page reads of a task: its parameters and result stay with the
  // service, but for the format of a capture's image (a TIFF is offered, not
  // shown)
  // (run_at and waiting_on say whether a pending task could start now, which
  // is when GET /queue is worth asking again)
  const KEPT_FIELDS = ['id', 'name', 'action', 'status', 'progress', 'error', 'created_at', 'completed_at',
    'run_at', 'waiting_on'];

  function keptOf (task) {
    const kept = {};
    for (const field of KEPT_FIELDS) if (field in task) kept[field] = task[field];
    if ('result' in task) {
      const format = task.result && typeof task.result.format === 'string' ? task.result.format : null;
      kept.result = format ? { format } : null;
    }
    return kept;
  }

  function mergeTask (task) {
    const known = tasks.get(task.id);
    const merged = Object.assign({}, known || {}, keptOf(task));
    tasks.set(task.id, merged);
    renderTask(merged);
    return merged;
  }

  // a task as a REST answer gave it, which events that came first may have
  // taken further: a completed task must not go back to pending. Null if so
  function mergeAnswer (task) {
    const known = tasks.get(task.id);
    if (known && STATUS_RANK[known.status] > STATUS_RANK[task.status]) return null;
    return mergeTask(task);
  }

  // the button is marked busy rather than disabled: a disabled button loses
  // the keyboard's focus
  async function cancelTask (id, button) {
    if (button.getAttribute('aria-disabled') === 'true') return;
    button.setAttribute('aria-disabled', 'true');
    try {
      const result = await api('DELETE', '/tasks/' + encodeURIComponent(id));
      if (result.ok && result.data) mergeAnswer(result.data);
      else if (!result.ok) alertRow(id, problemText(result));
    } catch (error) {
      alertRow(id, _('The service cannot be reached.'));
    } finally {
      button.removeAttribute('aria-disabled');
    }
  }

  function alertRow (id, text) {
    const row = document.getElementById('task-' + id);
    if (row) row.querySelector('.error').textContent = text;
  }

  // --- snapshot: the newest tasks, then the events that came meanwhile

  // a task the service no longer lists: its file is gone with it
  function forgetTask (id) {
    tasks.delete(id);
    const row = document.getElementById('task-' + id);
    if (row) row.remove();
    if (latestImageTask && latestImageTask.id === id) clearImage();
  }

  // the tasks from @path on, up to MAX_ROWS: a page of large tasks (a tile
  // scan's result lists every tile) stops at a few MiB with a Link to the
  // rest, so a short page is not the end; null when a page fails (and
  // @failed.result its answer)
  async function listWindow (path, failed) {
    const listed = [];
    while (path && listed.length < MAX_ROWS) {
      const page = await api('GET', path);
      if (!page.ok || !Array.isArray(page.data)) {
        if (failed) failed.result = page;
        return null;
      }
      listed.push(...page.data);
      const next = /<([^>]*)>;\s*rel="next"/.exec(page.headers.get('Link') || '');
      path = next ? next[1] : null;
    }
    return listed;
  }

  // the listing could not be read: the table stays as it is, a line says so,
  // and the listing is asked again after a while (spread) that grows to
  // SNAPSHOT_RETRY_MAX_MS. A 401 waits for the token instead (its form loads
  // everything again), and a page without its WebSocket for the stream's return
  function listingFailed (result) {
    listingStale = true;
    setText('listing-note', _('The task list could not be refreshed; it may be out of date.'));
    if (locked || (result && result.status === 401) || snapshotRetryTimer) return;
    let wait = spread(snapshotRetryDelay);
    // a 429 may say when to ask again
    const after = result && result.status === 429 ? Number(result.headers.get('Retry-After')) : NaN;
    if (Number.isFinite(after) && after > 0) wait = Math.max(wait, after * 1000);
    wait = Math.min(wait, SNAPSHOT_RETRY_MAX_MS);
    snapshotRetryDelay = Math.min(snapshotRetryDelay * 2, SNAPSHOT_RETRY_MAX_MS);
    snapshotRetryTimer = setTimeout(() => {
      snapshotRetryTimer = null;
      if (locked || connection === 'offline') return;
      loadSnapshot();
    }, wait);
  }

  function listingRead () {
    listingStale = false;
    snapshotRetryDelay = SNAPSHOT_RETRY_MIN_MS;
    if (snapshotRetryTimer) clearTimeout(snapshotRetryTimer);
    snapshotRetryTimer = null;
    setText('listing-note', '');
  }

  // the newest MAX_ROWS tasks, or null (@failed told why) when the count or a
  // page of them cannot be read: without X-Total-Count the window would be the
  // oldest tasks instead
  async function listNewest (failed) {
    const head = await api('GET', '/tasks?limit=1');
    const total = Number.parseInt(head.headers.get('X-Total-Count') || '', 10);
    if (!head.ok || !Number.isFinite(total) || total < 0) {
      failed.result = head;
      return null;
    }
    const offset = Math.max(0, total - MAX_ROWS);
    const rows = await listWindow('/tasks?limit=' + MAX_ROWS + '&offset=' + offset, failed);
    return rows;
  }

  async function loadSnapshot () {
    if (snapshotPending) {
      snapshotAgain = true;
      return;
    }
    snapshotAgain = false;
    snapshotPending = [];
    const unlisted = [];
    const failed = { result: null };
    let rows = null;
    try {
      rows = await listNewest(failed);
    } catch (error) {
      console.warn('snapshot failed', error);
    }
    try {
      if (rows) {
        listingRead();
        // the table becomes what the service lists: a row of a task deleted
        // or pruned while events were missed would otherwise stay as it was
        // or finished since. A pending or running task older than the
        // listing's window (fetched for its events) keeps its row, asked for
        // again once the listing is in, as its events may have been missed
        const listed = new Set(rows.map((task) => task.id));
        for (const [id, task] of Array.from(tasks.entries())) {
          if (listed.has(id)) continue;
          if (isActive(task)) unlisted.push(id);
          else forgetTask(id);
        }
        for (const task of rows) {
          if (!mergeAnswer(task)) continue;
          if (task.action === 'capture_image' && task.status === 'completed') showImage(task);
        }
      } else if (!snapshotAgain) {
        listingFailed(failed.result);
      }
    } catch (error) {
      console.warn('snapshot failed', error);
    } finally {
      const buffered = snapshotPending || [];
      snapshotPending = null;
      for (const event of buffered) applyEvent(event);
      for (const id of unlisted) if (tasks.has(id)) fetchTask(id, null);
      updateCounts();
      if (snapshotAgain) loadSnapshot();
    }
  }

  // --- events

  function handleEvent (event, frame) {
    if (event.type === 'resync_required') {
      // what follows is the retained history from long before, not what was
      // missed: a new stream from now and the table from REST instead
      restartStream();
      return;
    }
    if (typeof event.seq === 'number') {
      if (lastSeq > 0 && event.seq <= lastSeq) return; // replayed: already seen
      // missed events: reload, and apply this one after the snapshot
      if (lastSeq > 0 && event.seq > lastSeq + 1) reloadState();
      lastSeq = event.seq;
      lastFrame = frame;
    }
    if (snapshotPending) {
      snapshotPending.push(event);
      return;
    }
    applyEvent(event);
  }

  function applyEvent (event) {
    switch (event.type) {
      case 'queue_paused':
        queueEvents++;
        showQueue(true, queueHeld);
        return;
      case 'queue_resumed':
        queueEvents++;
        showQueue(false, queueHeld);
        return;
      default:
        break;
    }
    if (!event.task_id) return;
    const known = tasks.get(event.task_id);
    const update = { id: event.task_id };
    switch (event.type) {
      case 'task_scheduled':
        update.name = event.name;
        update.action = event.action;
        update.status = 'pending';
        update.created_at = event.timestamp;
        update.progress = 0;
        break;
      case 'task_started':
        update.status = 'running';
        update.error = null;
        break;
      case 'task_progress':
        update.progress = event.progress;
        break;
      case 'task_completed':
        update.status = 'completed';
        update.result = event.result;
        update.completed_at = event.timestamp;
        update.progress = 1;
        break;
      case 'task_failed':
        update.status = 'failed';
        update.error = event.error;
        break;
      case 'task_cancelled':
        update.status = 'cancelled';
        break;
      case 'task_retrying':
        // the next attempt starts from nothing, with no task_progress to say so,
        // and not before retry_at
        update.status = 'pending';
        update.error = event.error || null;
        update.progress = 0;
        update.run_at = typeof event.retry_at === 'string' ? event.retry_at : null;
        break;
      default:
        return;
    }
    if (event.type === 'task_completed') dependencyCompleted(event.task_id);
    if (fetching.has(event.task_id) || (!known && event.type !== 'task_scheduled')) {
      // a task from before the snapshot window: fetch it, once; or one on its
      // way: the event waits for the answer
      fetchTask(event.task_id, event);
      return;
    }
    const task = mergeTask(update);
    if (event.type === 'task_completed' && task.action === 'capture_image') showImage(task);
    if (event.type !== 'task_progress' && task.action !== 'capture_image') refreshDevices();
  }

  // no event says that a task no longer waits on a dependency: its
  // dependents' waiting_on loses it once it completes
  function dependencyCompleted (id) {
    for (const task of tasks.values()) {
      if (Array.isArray(task.waiting_on) && task.waiting_on.includes(id)) {
        task.waiting_on = task.waiting_on.filter((dependency) => dependency !== id);
      }
    }
  }

  // the status an event gives its task, if any
  const EVENT_STATUS = {
    task_started: 'running',
    task_completed: 'completed',
    task_failed: 'failed',
    task_cancelled: 'cancelled',
    task_retrying: 'pending'
  };

  // whether a held event, applied to a task as an answer gave it, would take
  // it back: to an earlier status, or to a lower progress while it runs. The
  // answer may be newer than such an event, or older
  function goesBack (event, task) {
    const status = EVENT_STATUS[event.type];
    if (status !== undefined) return STATUS_RANK[status] < STATUS_RANK[task.status];
    if (event.type !== 'task_progress') return false;
    return task.status !== 'running' || (typeof task.progress === 'number' && event.progress < task.progress);
  }

  // GET /tasks/{id}, asked again while it fails (no connection, an error of
  // the service, 429) after 1, 2, 4… s (spread), up to 30 s apart, or as Retry-After
  // says (up to 30 s too), FETCH_ATTEMPTS times in all: given up at once, the
  // events waiting on it went, and with them the row of a task the table did
  // not have, until the next reload. Not once the table has the task (a
  // reload listed it): its events apply to its row then, instead of waiting.
  // {answer} or {gone: true} (404), or {} once it gives up
  async function askTask (id) {
    let delay = 1000;
    for (let attempt = 1; ; attempt++) {
      let result = null;
      try {
        result = await api('GET', '/tasks/' + encodeURIComponent(id));
      } catch (error) {
        console.warn('task fetch failed', error);
      }
      if (result && result.ok && result.data) return { answer: result.data };
      if (result && result.status === 404) return { gone: true };
      // the token prompt takes over a 401; other refusals do not pass by
      if (attempt >= FETCH_ATTEMPTS || tasks.has(id) ||
          (result && result.status >= 400 && result.status < 500 && result.status !== 429)) return {};
      const after = result && result.status === 429 ? Number(result.headers.get('Retry-After')) * 1000 : NaN;
      await new Promise((resolve) => setTimeout(resolve, after > 0 ? Math.min(after, FETCH_DELAY_MAX_MS) : spread(delay)));
      if (tasks.has(id)) return {};
      delay = Math.min(2 * delay, FETCH_DELAY_MAX_MS);
    }
  }

  // one GET /tasks/{id} for the events of a task the table does not have
  // (@event the first of them, which the answer reflects), or for a task a
  // reload kept though the listing did not hold it (@event null). The events
  // that come while it is on its way wait for its answer, which may predate
  // them, and then apply unless they would take the task back; if one would,
  // the answer may as well be older than that event, so the task is asked
  // again once, after it, and the events held meanwhile apply the same way.
  // A task the service answers 404 for is gone: its row goes
  async function fetchTask (id, event) {
    const waiting = fetching.get(id);
    if (waiting) {
      if (event) waiting.push(event);
      return;
    }
    for (let round = 0; round < 2; round++) {
      fetching.set(id, []);
      const { answer = null, gone = false } = await askTask(id);
      const later = fetching.get(id) || [];
      fetching.delete(id);
      if (gone) {
        forgetTask(id);
        return;
      }
      // what the table shows of a task it had, or had after the first
      // answer, came before the request (later events wait): the answer is
      // as new, even where it shows an earlier status
      const fresh = round > 0 || event === null;
      let task = tasks.get(id) || null;
      if (answer) task = (fresh && task ? mergeTask(answer) : mergeAnswer(answer)) || tasks.get(id) || null;
      // no answer for a task the table does not have: its events go with it
      if (!task) return;
      if (answer && task.action === 'capture_image' && task.status === 'completed') showImage(task);
      let skipped = false;
      for (const next of later) {
        const current = tasks.get(id);
        if (!current) return;
        if (goesBack(next, current)) {
          skipped = true;
          continue;
        }
        applyEvent(next);
      }
      if (!skipped || !answer) return;
    }
  }

  // what missed events would have changed: the tasks, and whether the queue
  // is paused
  function reloadState () {
    loadSnapshot();
    refreshQueue();
  }

  function restartStream () {
    if (socket) {
      const closing = socket;
      socket = null;
      closing.close();
    }
    lastSeq = 0;
    lastFrame = null;
    connect();
  }

  function connect () {
    if (locked || socket) return;
    setConnection('connecting');
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const resume = lastSeq > 0 && lastFrame !== null;
    const query = new URLSearchParams();
    // from the event before the last one seen, which the service's log must
    // send again byte for byte: otherwise it is another log (a fresh
    // database, --in-memory) whose seqs say nothing of ours, even past them
    if (resume) query.set('since', String(lastSeq - 1));
    let expected = resume ? lastFrame : null;
    if (token) query.set('access_token', token);
    const search = query.toString();
    const url = scheme + '//' + location.host + '/ws' + (search ? '?' + search : '');
    let opened = false;
    const current = new WebSocket(url);
    socket = current;
    current.addEventListener('open', () => {
      opened = true;
      reconnectDelay = 500;
      setConnection('live');
      // without a resumable stream the page is rebuilt from REST; with one,
      // the queue is asked again, as no event says whether it is held
      // (and a listing that failed meanwhile is asked again now)
      if (!resume || listingStale) reloadState();
      else refreshQueue();
      // forms that failed to load (the service was away, say) come now
      if (!actionsLoaded) loadActions().catch((error) => console.warn('actions failed', error));
    });
    current.addEventListener('message', (message) => {
      if (socket !== current) return;
      let event;
      try {
        event = JSON.parse(message.data);
      } catch (error) {
        return;
      }
      if (expected !== null) {
        const another = event.type !== 'resync_required' && message.data !== expected;
        expected = null;
        // a new stream from now, and the table from REST
        if (another) {
          restartStream();
          return;
        }
      }
      handleEvent(event, message.data);
    });
    current.addEventListener('close', () => {
      // one the token form let go: the page has moved on
      if (socket !== current) return;
      socket = null;
      // the token form brings it back
      if (locked) return;
      setConnection('offline');
      if (opened) reconnectLater();
      else handshakeFailed(resume).finally(reconnectLater);
    });
  }

  function reconnectLater () {
    if (locked) return;
    setTimeout(connect, spread(reconnectDelay));
    reconnectDelay = Math.min(reconnectDelay * 2, RECONNECT_MAX_MS);
  }

  // the browser tells the page nothing of a refused handshake, so a request
  // tells why: no answer is a service still away (resume from the same seq
  // once it is back), a 401 asks for the token, and any other answer is a
  // service that refused the rest, such as a ?since= beyond what a fresh
  // database holds: the next stream starts from now, with the table reloaded.
  // A service that answers REST but not the stream (at its WebSocket client
  // limit, a proxy that drops the upgrade) gets its table from REST at each
  // try, as no event will bring it
  async function handshakeFailed (resumed) {
    let result;
    try {
      result = await api('GET', '/tasks?limit=1');
    } catch (error) {
      return;
    }
    if (result.status !== 401 && resumed && socket === null) lastSeq = 0;
    if (result.ok && socket === null && !locked) {
      setConnection('refused');
      reloadState();
    }
  }

  // --- latest image

  // an <img> or a link cannot carry the token: the file is fetched, and shown
  // or saved from memory
  function setImageUrl (url) {
    if (imageUrl) URL.revokeObjectURL(imageUrl);
    imageUrl = url;
  }

  function clearImage () {
    latestImageTask = null;
    const image = $('latest-image');
    image.hidden = true;
    image.removeAttribute('src');
    delete image.dataset.taskId;
    setImageUrl(null);
    setText('image-caption', _('No image captured yet.'));
  }

  async function download (path, fileName) {
    const blob = await fetchFile(path);
    if (!blob) return;
    const link = document.createElement('a');
    link.href = URL.createObjectURL(blob);
    link.download = fileName;
    link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 60000);
  }

  async function showImage (task) {
    if (latestImageTask && latestImageTask.completed_at && task.completed_at &&
        latestImageTask.completed_at > task.completed_at) return;
    latestImageTask = task;
    const image = $('latest-image');
    const caption = $('image-caption');
    const url = '/tasks/' + encodeURIComponent(task.id) + '/image';
    const formatName = task.result && task.result.format;
    if (formatName === 'tiff') {
      // browsers do not show TIFF: offer the file instead
      image.hidden = true;
      image.removeAttribute('src');
      setImageUrl(null);
      caption.textContent = '';
      const link = document.createElement('a');
      link.href = url;
      link.textContent = format(_('Download “%s” (TIFF)'), task.name);
      link.addEventListener('click', (event) => {
        event.preventDefault();
        download(url, task.id + '.tiff').catch((error) => console.warn('download failed', error));
      });
      caption.append(link);
      return;
    }
    let blob;
    try {
      blob = await fetchFile(url);
    } catch (error) {
      console.warn('image fetch failed', error);
    }
    // a newer one may have come meanwhile
    if (!blob || latestImageTask !== task) return;
    setImageUrl(URL.createObjectURL(blob));
    image.alt = format(_('Image of task “%s”'), task.name);
    image.dataset.taskId = task.id;
    image.src = imageUrl;
    image.hidden = false;
    caption.textContent = format(_('“%s”, %s'), task.name, formatTime(task.completed_at));
  }

  // --- devices

  function number (value) {
    return typeof value === 'number' ? value.toLocaleString(language, { maximumFractionDigits: 2 }) : '—';
  }

  async function refreshDevices () {
    // while the service is away a request would only fail
    // nor while the page is hidden, which asks once it shows
    if (devicesInFlight || locked || connection === 'offline' || document.hidden) return;
    devicesInFlight = true;
    try {
      const result = await api('GET', '/devices');
      if (!result.ok || !result.data) return;
      const devices = result.data;
      if (devices.stage) {
        const p = devices.stage.position;
        setText('stage-position', format(_('x %s, y %s, z %s µm'), number(p.x), number(p.y), number(p.z)) +
          (devices.stage.moving ? ' · ' + _('moving') : ''));
      } else {
        setText('stage-position', _('none'));
      }
      if (devices.focus) {
        setText('focus-position', format(_('%s µm'), number(devices.focus.position)) +
          (devices.focus.moving ? ' · ' + _('moving') : ''));
      } else {
        setText('focus-position', _('none'));
      }
      setText('camera-source', devices.camera ? (devices.camera.source || devices.camera.kind) : _('none'));
    } catch (error) {
      console.warn('device refresh failed', error);
    } finally {
      devicesInFlight = false;
    }
  }

  function scheduleDevicePoll () {
    // a hidden page shows nothing: its polls start again once it shows
    if (document.hidden) {
      if (devicesTimer) clearInterval(devicesTimer.id);
      devicesTimer = null;
      return;
    }
    let busy = false;
    for (const task of tasks.values()) if (task.status === 'running') busy = true;
    const wanted = busy ? DEVICE_POLL_BUSY_MS : DEVICE_POLL_IDLE_MS;
    if (devicesTimer && devicesTimer.interval === wanted) return;
    if (devicesTimer) clearInterval(devicesTimer.id);
    devicesTimer = { interval: wanted, id: setInterval(refreshDevices, wanted) };
  }

  // --- queue

  // @held: why ready tasks do not start, as GET /queue says ("store" while
  // the task database catches up with its writes), or null
  function showQueue (paused, held) {
    queuePaused = paused;
    queueHeld = typeof held === 'string' ? held : null;
    const badge = $('queue-state');
    let text = _('Running');
    let cls = 'ok';
    if (paused) {
      text = _('Paused');
      cls = 'warn';
    } else if (queueHeld) {
      text = _('Held');
      cls = 'warn';
    }
    badge.textContent = text;
    badge.className = 'badge ' + cls;
    badge.dataset.paused = String(paused);
    badge.dataset.held = queueHeld || '';
    $('queue-pause').disabled = paused;
    $('queue-resume').disabled = !paused;
    let note = '';
    if (queueHeld === 'store') {
      note = _('Held: the task store is catching up — tasks start again once it has.');
    } else if (queueHeld) {
      note = format(_('Held: %s — tasks start again once it is over.'), queueHeld);
    }
    setText('queue-held', note);
    scheduleQueuePoll();
  }

  // when a pending task may start, in ms since the epoch: 0 for now, NaN for
  // not before its dependencies have completed. run_at undefined is not known
  // yet (task_scheduled does not say): such a task counts as one that could
  // start now until a listing says otherwise
  function startsAt (task) {
    if (Array.isArray(task.waiting_on) && task.waiting_on.length > 0) return NaN;
    if (typeof task.run_at !== 'string') return 0;
    const at = Date.parse(task.run_at);
    return Number.isNaN(at) ? 0 : at;
  }

  // whether GET /queue is worth asking again: nothing is sent when the queue
  // becomes held or stops being so, and a hold matters only to a task that
  // could start now, not to one waiting for its run_at or its dependencies
  function queueWorthPolling () {
    // while the service is away a request would only fail: the poll starts
    // again once the WebSocket is back
    // and a hidden page shows nothing: it asks once it shows again
    if (!queueAvailable || locked || connection !== 'live' || document.hidden) {
      wakeAt(Infinity);
      return false;
    }
    if (queueHeld) return true;
    if (queuePaused) return false;
    const now = Date.now();
    let next = Infinity;
    let ready = false;
    for (const task of tasks.values()) {
      if (task.status !== 'pending') continue;
      const at = startsAt(task);
      if (at <= now) ready = true;
      else if (at < next) next = at;
    }
    wakeAt(ready ? Infinity : next);
    return ready;
  }

  // a timer for the first run_at to come: the poll starts then
  function wakeAt (at) {
    if (runAtTimer) clearTimeout(runAtTimer);
    runAtTimer = null;
    if (at === Infinity) return;
    const wait = Math.min(Math.max(at - Date.now(), 0) + 100, RUN_AT_WAKE_MAX_MS);
    runAtTimer = setTimeout(() => {
      runAtTimer = null;
      scheduleQueuePoll();
    }, wait);
  }

  function scheduleQueuePoll () {
    const wanted = queueWorthPolling();
    if (wanted && !queueTimer) {
      queueTimer = setTimeout(() => {
        queueTimer = null;
        Promise.all([refreshQueue(), learnPending()]).finally(scheduleQueuePoll);
      }, QUEUE_POLL_MS);
    } else if (!wanted && queueTimer) {
      clearTimeout(queueTimer);
      queueTimer = null;
    }
  }

  // the run_at and waiting_on of the pending tasks known only from
  // task_scheduled (another client's, submitted with a delay, say): one
  // listing of the pending tasks created since the oldest of them, read on
  // until it holds them all (a batch can hold thousands), up to
  // PENDING_PAGES_MAX pages. A task a whole listing does not hold (started
  // meanwhile) counts as one that could start now; one past a listing cut
  // short stays unknown, for the next poll to list from
  async function learnPending () {
    if (learning) return;
    let oldest = Infinity;
    const unknown = new Set();
    for (const task of tasks.values()) {
      if (task.status !== 'pending' || 'run_at' in task) continue;
      unknown.add(task.id);
      const created = Date.parse(task.created_at);
      if (!Number.isNaN(created) && created < oldest) oldest = created;
    }
    if (unknown.size === 0) return;
    learning = true;
    try {
      const query = new URLSearchParams({ status: 'pending', limit: String(PENDING_PAGE) });
      // a second before: the event's timestamp and the task's created_at need not be equal
      if (oldest !== Infinity) query.set('since', new Date(oldest - 1000).toISOString());
      let path = '/tasks?' + query.toString();
      const byId = new Map();
      let pages = 0;
      while (path && pages < PENDING_PAGES_MAX) {
        const page = await api('GET', path);
        if (!page.ok || !Array.isArray(page.data)) break;
        pages++;
        for (const task of page.data) {
          if (!unknown.has(task.id)) continue;
          // only what learning needs, not the task's parameters
          byId.set(task.id, { run_at: task.run_at, waiting_on: task.waiting_on });
        }
        const next = /<([^>]*)>;\s*rel="next"/.exec(page.headers.get('Link') || '');
        path = next ? next[1] : null;
        if (byId.size === unknown.size) break;
      }
      // with no page read, nothing is learnt: the next poll lists again
      if (pages === 0) return;
      const whole = path === null;
      for (const id of unknown) {
        const known = tasks.get(id);
        if (!known || known.status !== 'pending' || 'run_at' in known) continue;
        const answer = byId.get(id);
        if (!answer && !whole) continue;
        known.run_at = answer && typeof answer.run_at === 'string' ? answer.run_at : null;
        // a dependency whose task_completed came meanwhile is done
        known.waiting_on = answer && Array.isArray(answer.waiting_on)
          ? answer.waiting_on.filter((dependency) => tasks.get(dependency)?.status !== 'completed')
          : [];
      }
    } catch (error) {
      console.warn('pending tasks failed', error);
    } finally {
      learning = false;
    }
  }

  function queueUnavailable () {
    queueAvailable = false;
    $('queue-state').textContent = '';
    $('queue-pause').hidden = true;
    $('queue-resume').hidden = true;
    setText('queue-held', '');
    setText('queue-note', _('This service cannot pause its queue.'));
    scheduleQueuePoll();
  }

  async function refreshQueue () {
    const seen = queueEvents;
    try {
      const result = await api('GET', '/queue');
      if (result.status === 404 || result.status === 405) {
        queueUnavailable();
        return;
      }
      // an event that came meanwhile is as new, and any later change sends
      // one; no event says whether the queue is held, so that is the answer's
      if (result.ok && result.data) {
        showQueue(queueEvents === seen ? Boolean(result.data.paused) : queuePaused, result.data.held);
      }
    } catch (error) {
      console.warn('queue refresh failed', error);
    }
  }

  async function setPaused (paused) {
    if (!queueAvailable) return;
    const seen = queueEvents;
    let result;
    try {
      result = await api('POST', paused ? '/queue/pause' : '/queue/resume');
    } catch (error) {
      setText('queue-note', _('The service cannot be reached.'));
      return;
    }
    if (result.status === 404 || result.status === 405) {
      queueUnavailable();
      return;
    }
    if (!result.ok) {
      setText('queue-note', problemText(result));
      return;
    }
    setText('queue-note', '');
    if (result.data && typeof result.data.paused === 'boolean') {
      // an event that came meanwhile is as new as the answer's paused
      showQueue(queueEvents === seen ? result.data.paused : queuePaused, result.data.held);
    } else {
      refreshQueue();
    }
  }

  // --- submit forms, one per action

  function inputFor (action, parameter) {
    const id = 'param-' + action.name + '-' + parameter.name;
    const hint = [parameter.description || ''];
    let control;

    if (parameter.type === 'boolean') {
      const wrapper = document.createElement('label');
      wrapper.className = 'check';
      control = document.createElement('input');
      control.type = 'checkbox';
      control.id = id;
      control.name = parameter.name;
      control.checked = parameter.default === true;
      control.dataset.type = 'boolean';
      const text = document.createElement('span');
      text.textContent = parameter.name;
      wrapper.title = parameter.description || '';
      wrapper.append(control, text);
      return wrapper;
    }

    const wrapper = document.createElement('label');
    wrapper.className = 'field';
    const title = document.createElement('span');
    title.textContent = parameter.name + (parameter.required ? ' *' : '');
    wrapper.append(title);

    if (Array.isArray(parameter.choices)) {
      control = document.createElement('select');
      if (!parameter.required && parameter.default === undefined) {
        control.append(new Option('—', ''));
      }
      for (const choice of parameter.choices) {
        control.append(new Option(String(choice), String(choice), false, choice === parameter.default));
      }
    } else {
      control = document.createElement('input');
      if (parameter.type === 'number' || parameter.type === 'integer') {
        control.type = 'number';
        control.step = parameter.type === 'integer' ? '1' : 'any';
        if (typeof parameter.minimum === 'number') control.min = String(parameter.minimum);
        if (typeof parameter.maximum === 'number') control.max = String(parameter.maximum);
        if (typeof parameter.exclusive_minimum === 'number') {
          hint.push(format(_('greater than %s'), parameter.exclusive_minimum));
        }
      } else {
        control.type = 'text';
      }
      if (parameter.default !== undefined && parameter.default !== null) {
        control.value = String(parameter.default);
      }
    }
    control.id = id;
    control.name = parameter.name;
    control.dataset.type = parameter.type;
    if (parameter.required) control.required = true;

    const row = document.createElement('div');
    row.className = 'field-row';
    row.append(control);
    if (parameter.unit) {
      const unit = document.createElement('span');
      unit.className = 'unit';
      unit.textContent = parameter.unit;
      row.append(unit);
    }
    wrapper.append(row);
    const small = document.createElement('small');
    small.textContent = hint.filter(Boolean).join('; ');
    wrapper.append(small);
    return wrapper;
  }

  function collectParameters (form, action) {
    const parameters = {};
    for (const parameter of action.parameters || []) {
      const control = form.elements.namedItem(parameter.name);
      if (!control) continue;
      if (parameter.type === 'boolean') {
        if (control.checked !== (parameter.default === true)) parameters[parameter.name] = control.checked;
        continue;
      }
      const text = control.value.trim();
      if (text === '') continue;
      if (parameter.type === 'number' || parameter.type === 'integer') {
        parameters[parameter.name] = Number(text);
      } else {
        parameters[parameter.name] = text;
      }
    }
    return parameters;
  }

  function formFor (action) {
    const form = document.createElement('form');
    form.className = 'action-form';
    form.dataset.action = action.name;
    form.noValidate = false;

    const nameField = document.createElement('label');
    nameField.className = 'field';
    const nameTitle = document.createElement('span');
    nameTitle.textContent = _('Task name') + ' *';
    const nameInput = document.createElement('input');
    nameInput.type = 'text';
    nameInput.name = 'task-name';
    nameInput.required = true;
    nameInput.maxLength = 256;
    nameInput.value = action.name;
    nameField.append(nameTitle, nameInput);
    form.append(nameField);

    for (const parameter of action.parameters || []) form.append(inputFor(action, parameter));

    const submit = document.createElement('button');
    submit.type = 'submit';
    submit.className = 'primary';
    submit.textContent = _('Submit');
    const message = document.createElement('p');
    message.className = 'form-message';
    message.setAttribute('role', 'alert');
    form.append(submit, message);

    form.addEventListener('submit', async (domEvent) => {
      domEvent.preventDefault();
      submit.disabled = true;
      message.textContent = '';
      message.className = 'form-message';
      const body = {
        name: nameInput.value.trim(),
        action: action.name,
        parameters: collectParameters(form, action)
      };
      try {
        const result = await api('POST', '/tasks', body);
        if (result.ok && result.data) {
          mergeAnswer(result.data);
          message.textContent = format(_('Scheduled “%s”.'), result.data.name);
          message.className = 'form-message ok';
        } else {
          message.textContent = problemText(result);
          message.className = 'form-message error';
        }
      } catch (error) {
        message.textContent = _('The service cannot be reached.');
        message.className = 'form-message error';
      } finally {
        submit.disabled = false;
      }
    });
    return form;
  }

  function showAction (name) {
    for (const form of document.querySelectorAll('.action-form')) {
      form.hidden = form.dataset.action !== name;
    }
    const action = actions.find((candidate) => candidate.name === name);
    setText('action-description', action ? action.description : '');
  }

  async function loadActions () {
    const result = await api('GET', '/actions');
    if (!result.ok || !Array.isArray(result.data)) {
      setText('action-description', problemText(result));
      return;
    }
    actions = result.data;
    actionsLoaded = true;
    setText('action-description', '');
    const select = $('action-select');
    const forms = $('action-forms');
    select.textContent = '';
    forms.textContent = '';
    for (const action of actions) {
      select.append(new Option(action.name, action.name));
      forms.append(formFor(action));
    }
    if (actions.length > 0) showAction(actions[0].name);
  }

  async function loadVersion () {
    try {
      const result = await api('GET', '/health');
      if (result.ok && result.data && result.data.version) {
        setText('version', format(_('version %s'), result.data.version));
      }
    } catch (error) {
      console.warn('health failed', error);
    }
  }

  // what the page asks of the service, at the start and once a token is given;
  // the WebSocket once a request has shown whether the token is needed and
  // right, as the browser tells the page nothing of a refused handshake
  function load () {
    loadActions()
      .catch((error) => console.warn('actions failed', error))
      .finally(connect);
    refreshQueue();
    refreshDevices();
  }

  function start () {
    renderStaticText();
    setConnection('connecting');
    $('queue-pause').addEventListener('click', () => setPaused(true));
    $('queue-resume').addEventListener('click', () => setPaused(false));
    $('action-select').addEventListener('change', () => showAction($('action-select').value));
    $('token-form').addEventListener('submit', (event) => {
      event.preventDefault();
      const value = $('token-input').value.trim();
      if (value) unlock(value);
    });
    $('forget-token').addEventListener('click', () => {
      storeToken(null);
      location.reload();
    });
    $('forget-token').hidden = !token;
    document.addEventListener('visibilitychange', () => {
      if (!document.hidden) refreshDevices();
      scheduleDevicePoll();
      scheduleQueuePoll();
    });
    load();
    loadVersion();
    updateCounts();
  }

  start();
})();
