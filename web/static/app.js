// Optional enhancements for the bucketd pages. Everything works without it.
'use strict';
document.addEventListener('DOMContentLoaded', function () {
  // "Copy" buttons next to read-only fields (URI, sync command).
  document.querySelectorAll('input[data-copy]').forEach(function (input) {
    var b = document.createElement('button');
    b.type = 'button';
    b.textContent = 'Copy';
    b.setAttribute('aria-label', 'Copy ' + (input.labels && input.labels[0] ? input.labels[0].textContent : 'text'));
    b.addEventListener('click', function () {
      input.select();
      var done = function () { b.textContent = 'Copied'; setTimeout(function () { b.textContent = 'Copy'; }, 1500); };
      if (navigator.clipboard && navigator.clipboard.writeText) {
        navigator.clipboard.writeText(input.value).then(done, function () { document.execCommand('copy'); done(); });
      } else { document.execCommand('copy'); done(); }
    });
    input.insertAdjacentElement('afterend', b);
  });
  // Drag and drop onto the upload form: dropped files fill the file picker.
  var form = document.getElementById('upload-form');
  var picker = document.getElementById('files');
  var zone = document.getElementById('dropzone');
  if (form && picker && zone && window.DataTransfer) {
    ['dragenter', 'dragover'].forEach(function (ev) {
      form.addEventListener(ev, function (e) { e.preventDefault(); zone.classList.add('over'); });
    });
    form.addEventListener('dragleave', function () { zone.classList.remove('over'); });
    form.addEventListener('drop', function (e) {
      e.preventDefault();
      zone.classList.remove('over');
      if (e.dataTransfer && e.dataTransfer.files.length) {
        picker.files = e.dataTransfer.files;
        zone.textContent = e.dataTransfer.files.length + ' file(s) ready to upload.';
      }
    });
  }
});
