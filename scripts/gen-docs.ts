import { readFileSync, writeFileSync } from 'node:fs';
import { renderConfigDoc, renderErrorsDoc } from '../src/config/docs.js';
import { renderMqttDoc } from '../src/docs/mqtt.js';

const mqttDoc = new URL('../docs/mqtt.md', import.meta.url);
writeFileSync(new URL('../docs/config.md', import.meta.url), renderConfigDoc());
writeFileSync(new URL('../docs/errors.md', import.meta.url), renderErrorsDoc());
writeFileSync(mqttDoc, renderMqttDoc(readFileSync(mqttDoc, 'utf8')));
console.log('wrote docs/config.md, docs/errors.md and the example payloads of docs/mqtt.md');
