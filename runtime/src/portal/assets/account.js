// Turnpike developer portal, the account page: the "Copy" button of a new
// key, and the usage chart (uPlot) with a table of the same numbers for
// screen readers and for when the chart cannot be drawn. Loaded as a file:
// the page's Content-Security-Policy allows no inline script.
(function () {
  'use strict';

  function copyButtons() {
    var buttons = document.querySelectorAll('button[data-copy]');
    Array.prototype.forEach.call(buttons, function (button) {
      button.addEventListener('click', function () {
        var source = document.getElementById(button.getAttribute('data-copy'));
        if (!source) {
          return;
        }
        var text = source.textContent.trim();
        var done = function () {
          button.textContent = 'Copied';
          window.setTimeout(function () {
            button.textContent = 'Copy';
          }, 3000);
        };
        if (navigator.clipboard && navigator.clipboard.writeText) {
          navigator.clipboard.writeText(text).then(done, function () {
            selectText(source);
          });
        } else {
          selectText(source);
        }
      });
    });
  }

  function selectText(element) {
    var range = document.createRange();
    range.selectNodeContents(element);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  function cell(row, text, header) {
    var element = document.createElement(header ? 'th' : 'td');
    element.textContent = text;
    row.appendChild(element);
    return element;
  }

  function usageTable(target, keys) {
    keys.forEach(function (key) {
      var table = document.createElement('table');
      table.className = 'usage-table';
      var caption = document.createElement('caption');
      var quota = key.quota
        ? ' · quota: ' + key.quota.used + ' of ' + key.quota.limit + ' per ' + key.quota.period + ' used, ' + key.quota.remaining + ' left'
        : '';
      caption.textContent = key.name + ' (' + key.plan + ')' + quota;
      table.appendChild(caption);
      var head = document.createElement('tr');
      cell(head, 'Day', true).setAttribute('scope', 'col');
      cell(head, 'Calls', true).setAttribute('scope', 'col');
      cell(head, 'Refused (429)', true).setAttribute('scope', 'col');
      table.appendChild(head);
      key.days.forEach(function (day) {
        var row = document.createElement('tr');
        cell(row, day.date, false);
        cell(row, String(day.admitted), false).className = 'admitted';
        cell(row, String(day.refused), false).className = 'refused';
        table.appendChild(row);
      });
      target.appendChild(table);
    });
  }

  function usageChart(target, keys) {
    if (typeof window.uPlot !== 'function' || keys.length === 0) {
      return;
    }
    var days = keys[0].days.map(function (d) {
      return Date.parse(d.date + 'T00:00:00Z') / 1000;
    });
    var data = [days];
    var series = [{}];
    var colors = ['#1f5fbf', '#b42318', '#2e7d32', '#8e24aa'];
    keys.forEach(function (key, index) {
      data.push(key.days.map(function (d) { return d.admitted; }));
      series.push({ label: key.name + ' calls', stroke: colors[(2 * index) % colors.length], width: 2 });
      data.push(key.days.map(function (d) { return d.refused; }));
      series.push({ label: key.name + ' 429s', stroke: colors[(2 * index + 1) % colors.length], width: 2, dash: [6, 4] });
    });
    var width = Math.max(320, Math.min(target.clientWidth || 800, 1000));
    // eslint-disable-next-line no-new
    new window.uPlot({ width: width, height: 260, series: series, axes: [{}, { label: 'calls' }] }, data, target);
  }

  function usage() {
    var chart = document.getElementById('usage-chart');
    if (!chart) {
      return;
    }
    fetch(chart.getAttribute('data-source'), { credentials: 'same-origin' })
      .then(function (response) {
        return response.ok ? response.json() : { keys: [] };
      })
      .then(function (body) {
        var keys = body.keys || [];
        usageTable(document.getElementById('usage-table'), keys);
        usageChart(chart, keys);
        chart.setAttribute('data-loaded', 'true');
      });
  }

  function start() {
    copyButtons();
    usage();
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', start);
  } else {
    start();
  }
})();
