// Render the AsyncAPI document named by #asyncapi's data-document-url with AsyncAPI's standalone
// bundle (static/asyncapi/index.js). Without the bundle (npm never installed it), say so.
(function () {
  var root = document.getElementById('asyncapi');
  var url = root.getAttribute('data-document-url');
  if (typeof AsyncApiStandalone === 'undefined') {
    root.textContent = 'The AsyncAPI renderer is not installed (run scripts/npm.sh, then ' +
      'manage.py collectstatic). The document itself is at ' + url + '.';
    return;
  }
  AsyncApiStandalone.render({
    schema: { url: url, requestOptions: { credentials: 'same-origin' } },
    config: { show: { sidebar: true, errors: true }, sidebar: { showOperations: 'byDefault' } }
  }, root);
})();
