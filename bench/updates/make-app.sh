#!/usr/bin/env bash
# Makes the three production builds the update benchmark compares, with the
# framework's own tools from npm (nothing is committed but this script):
#   1. an Ionic React app (Vite's react-ts template, @ionic/react 8.5.0,
#      React Router 5 and lazy-loaded tab pages, as Ionic's tabs starter);
#   2. the same after a one-line change in one component (Tab2's text);
#   3. the same after a dependency bump (@ionic/react and
#      @ionic/react-router 8.5.0 -> 8.5.8, which brings a new @ionic/core).
# Usage: bench/updates/make-app.sh WORK_DIR   (builds in WORK_DIR/dist-{1,2,3})
set -euo pipefail
work=${1:?usage: make-app.sh WORK_DIR}
mkdir -p "$work"
work=$(cd "$work" && pwd)
app="$work/app"
rm -rf "$app" "$work"/dist-*
cd "$work"
npm create -y vite@6.5.0 app -- --template react-ts >/dev/null
cd "$app"
# Exact versions, so every run builds the same bytes.
node - <<'JS'
const fs = require('fs');
const p = JSON.parse(fs.readFileSync('package.json', 'utf8'));
p.scripts.build = 'vite build';
p.dependencies = {
  '@ionic/react': '8.5.0', '@ionic/react-router': '8.5.0', ionicons: '7.4.0',
  react: '19.1.0', 'react-dom': '19.1.0', 'react-router': '5.3.4', 'react-router-dom': '5.3.4',
};
p.devDependencies = {
  '@types/react': '19.1.2', '@types/react-dom': '19.1.2', '@types/react-router': '5.1.20',
  '@types/react-router-dom': '5.3.3', '@vitejs/plugin-react': '4.4.1', typescript: '5.8.3', vite: '6.3.5',
};
fs.writeFileSync('package.json', JSON.stringify(p, null, 2) + '\n');
JS
rm -rf src/assets src/App.css src/index.css public/vite.svg
cat > src/main.tsx <<'TSX'
import React from 'react';
import { createRoot } from 'react-dom/client';
import App from './App';

createRoot(document.getElementById('root')!).render(
  <React.StrictMode>
    <App />
  </React.StrictMode>,
);
TSX
cat > src/App.tsx <<'TSX'
import { lazy, Suspense } from 'react';
import { Redirect, Route } from 'react-router-dom';
import {
  IonApp, IonIcon, IonLabel, IonRouterOutlet, IonTabBar, IonTabButton, IonTabs, setupIonicReact,
} from '@ionic/react';
import { IonReactRouter } from '@ionic/react-router';
import { ellipse, square, triangle } from 'ionicons/icons';
import '@ionic/react/css/core.css';
import '@ionic/react/css/normalize.css';
import '@ionic/react/css/structure.css';
import '@ionic/react/css/typography.css';
import '@ionic/react/css/padding.css';
import '@ionic/react/css/flex-utils.css';
import '@ionic/react/css/display.css';
import './theme/variables.css';

const Tab1 = lazy(() => import('./pages/Tab1'));
const Tab2 = lazy(() => import('./pages/Tab2'));
const Tab3 = lazy(() => import('./pages/Tab3'));

setupIonicReact();

const App: React.FC = () => (
  <IonApp>
    <IonReactRouter>
      <IonTabs>
        <IonRouterOutlet>
          <Suspense fallback={null}>
            <Route exact path="/tab1"><Tab1 /></Route>
            <Route exact path="/tab2"><Tab2 /></Route>
            <Route path="/tab3"><Tab3 /></Route>
            <Route exact path="/"><Redirect to="/tab1" /></Route>
          </Suspense>
        </IonRouterOutlet>
        <IonTabBar slot="bottom">
          <IonTabButton tab="tab1" href="/tab1"><IonIcon aria-hidden="true" icon={triangle} /><IonLabel>Orders</IonLabel></IonTabButton>
          <IonTabButton tab="tab2" href="/tab2"><IonIcon aria-hidden="true" icon={ellipse} /><IonLabel>Catalogue</IonLabel></IonTabButton>
          <IonTabButton tab="tab3" href="/tab3"><IonIcon aria-hidden="true" icon={square} /><IonLabel>Account</IonLabel></IonTabButton>
        </IonTabBar>
      </IonTabs>
    </IonReactRouter>
  </IonApp>
);

export default App;
TSX
mkdir -p src/pages src/theme
cat > src/theme/variables.css <<'CSS'
:root { --ion-color-primary: #3b5bdb; --ion-font-family: system-ui, sans-serif; }
CSS
for n in 1 2 3; do
  cat > "src/pages/Tab$n.tsx" <<TSX
import { useState } from 'react';
import {
  IonButton, IonCard, IonCardContent, IonCardHeader, IonCardTitle, IonContent, IonHeader,
  IonInput, IonItem, IonLabel, IonList, IonPage, IonSearchbar, IonTitle, IonToggle, IonToolbar,
} from '@ionic/react';

const rows = Array.from({ length: 12 }, (_, i) => ({ id: i, name: \`Item \${i + 1} of tab $n\` }));

const Tab$n: React.FC = () => {
  const [query, setQuery] = useState('');
  const [on, setOn] = useState(false);
  const shown = rows.filter((r) => r.name.toLowerCase().includes(query.toLowerCase()));
  return (
    <IonPage>
      <IonHeader><IonToolbar><IonTitle>Tab $n</IonTitle></IonToolbar></IonHeader>
      <IonContent fullscreen>
        <IonSearchbar value={query} onIonInput={(e) => setQuery(e.detail.value ?? '')} />
        <IonCard>
          <IonCardHeader><IonCardTitle>Welcome to tab $n</IonCardTitle></IonCardHeader>
          <IonCardContent>This screen lists what you have. Version one of the text.</IonCardContent>
        </IonCard>
        <IonList>
          {shown.map((r) => (<IonItem key={r.id}><IonLabel>{r.name}</IonLabel></IonItem>))}
          <IonItem><IonInput label="Note" placeholder="Write here" /></IonItem>
          <IonItem><IonToggle checked={on} onIonChange={(e) => setOn(e.detail.checked)}>Notify me</IonToggle></IonItem>
        </IonList>
        <IonButton expand="block" onClick={() => setQuery('')}>Clear</IonButton>
      </IonContent>
    </IonPage>
  );
};

export default Tab$n;
TSX
done
npm install --no-audit --no-fund --loglevel=error >/dev/null
npm run -s build >/dev/null && cp -r dist "$work/dist-1"
# 2: one line in one component.
sed -i 's/Version one of the text\./Version two of the text./' src/pages/Tab2.tsx
npm run -s build >/dev/null && cp -r dist "$work/dist-2"
# 3: a dependency bump.
npm install --no-audit --no-fund --loglevel=error --save-exact @ionic/react@8.5.8 @ionic/react-router@8.5.8 >/dev/null
npm run -s build >/dev/null && cp -r dist "$work/dist-3"
for n in 1 2 3; do
  echo "dist-$n: $(find "$work/dist-$n" -type f | wc -l) files, $(du -sb "$work/dist-$n" | cut -f1) bytes"
done
