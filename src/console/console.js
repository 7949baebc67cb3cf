// pgvitals console: refresh every data-refresh seconds unless the page is being read (a text
// selection, an open <details> the reader toggled); click a column head to sort a table.
(function () {
  var every = Number(document.body.getAttribute('data-refresh') || 0);
  var touched = false;
  document.addEventListener('toggle', function () { touched = true; }, true);
  if (every > 0) {
    setInterval(function () {
      if (!touched && !String(window.getSelection())) { location.reload(); }
    }, every * 1000);
  }
  document.querySelectorAll('table.sortable thead th').forEach(function (th, col) {
    th.addEventListener('click', function () {
      var body = th.closest('table').tBodies[0];
      var down = th.getAttribute('data-down') !== 'true';
      th.setAttribute('data-down', String(down));
      var key = function (row) {
        var cell = row.cells[col];
        if (!cell) { return ''; }
        var v = cell.getAttribute('data-v');
        return v === null ? cell.textContent.trim().toLowerCase() : Number(v);
      };
      Array.prototype.slice.call(body.rows).sort(function (a, b) {
        var x = key(a), y = key(b);
        var c = x < y ? -1 : x > y ? 1 : 0;
        return down ? -c : c;
      }).forEach(function (row) { body.appendChild(row); });
    });
  });
})();
