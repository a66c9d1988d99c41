document.getElementById('version').textContent = 'bundle: example, loaded ' + new Date().toISOString();
