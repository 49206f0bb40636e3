// The live part of the dashboard: the event feed (server-sent events, the records of -o json)
// recolours matrix cells as instances change and counts bakes down. No framework, no CDN.
(function () {
  var live = document.getElementById('live');
  var feed = document.getElementById('feed');
  var states = {PENDING: 'pending', RUNNING: 'running', SUCCEEDED: 'succeeded', ROLLED_BACK: 'succeeded', FAILED: 'failed', CANCELLED: 'cancelled'};
  function owner(rec) {
    return rec.type === 'releaseEvent' ? 'pipeline/' + rec.pipeline + '/' + rec.stack : 'stack-set/' + rec.stackSet;
  }
  function onRecord(rec) {
    var t = rec.target ? rec.target.account + '/' + rec.target.region : '';
    if (feed) {
      var li = document.createElement('li');
      li.textContent = rec.time.substring(11, 19) + ' ' + rec.kind + ' ' + rec.status + (t ? ' ' + t : '') +
        (rec.logicalId ? ' ' + rec.logicalId : '') + (rec.reason ? ': ' + rec.reason : '');
      li.className = (states[rec.status] || '') + ' ' + rec.kind;
      feed.insertBefore(li, feed.firstChild);
      while (feed.children.length > 300) feed.removeChild(feed.lastChild);
    }
    if (rec.kind === 'operation' && rec.type === 'event' && rec.status !== 'RUNNING' && rec.status !== 'RESUMED') {
      document.querySelectorAll('table.matrix[data-owner="' + owner(rec) + '"] caption .op').forEach(function (op) {
        op.textContent = 'operation ' + rec.operation + ' ' + rec.status; // it ended
      });
    }
    if (rec.kind === 'step' && t && states[rec.status]) {
      var cells = document.querySelectorAll('table.matrix[data-owner="' + owner(rec) + '"] td[data-target="' + t + '"]');
      // A new target of a matrix this page shows (or of the fleet page, which shows them all): redraw.
      if (cells.length === 0 && rec.status === 'RUNNING' &&
          (document.querySelector('table.matrix[data-owner="' + owner(rec) + '"]') || document.getElementById('fleet'))) location.reload();
      cells.forEach(function (td) {
        td.className = 'cell ' + states[rec.status];
        td.title = rec.status + (rec.reason ? ' ' + rec.reason : '');
        var a = td.querySelector('a');
        if (a) a.textContent = states[rec.status];
      });
    }
    if (rec.type === 'releaseEvent' && (rec.kind === 'wave' || rec.kind === 'release' || rec.kind === 'rollback') &&
        document.querySelector('section.release')) {
      clearTimeout(window.__reload);
      window.__reload = setTimeout(function () { location.reload(); }, 300);
    }
  }
  // The feed starts where the page read the state (a reconnect resumes at Last-Event-ID).
  var after = document.body.dataset.after;
  var es = new EventSource('/events' + (after ? '?after=' + encodeURIComponent(after) : ''));
  es.onopen = function () { live.textContent = 'live'; };
  es.onerror = function () { live.textContent = 'reconnecting…'; };
  es.onmessage = function (m) { try { onRecord(JSON.parse(m.data)); } catch (e) {} };
  setInterval(function () {
    document.querySelectorAll('.bake[data-left]').forEach(function (b) {
      var left = Math.max(0, parseInt(b.dataset.left, 10) - 1);
      b.dataset.left = left;
      b.textContent = 'bake ' + left + 's left';
    });
  }, 1000);
})();
