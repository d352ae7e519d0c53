import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { renderConfigDoc, renderErrorsDoc } from '../src/config/docs.js';
import { renderMqttDoc } from '../src/docs/mqtt.js';
import { renderSchemas, SCHEMA_DIR } from '../src/docs/schemas.js';

const mqttDoc = new URL('../docs/mqtt.md', import.meta.url);
writeFileSync(new URL('../docs/config.md', import.meta.url), renderConfigDoc());
writeFileSync(new URL('../docs/errors.md', import.meta.url), renderErrorsDoc());
writeFileSync(mqttDoc, renderMqttDoc(readFileSync(mqttDoc, 'utf8')));
const schemaDir = new URL(`../${SCHEMA_DIR}/`, import.meta.url);
mkdirSync(schemaDir, { recursive: true });
const schemas = renderSchemas();
// A schema that is no longer generated must not linger as if it were current.
for (const name of readdirSync(schemaDir)) if (!schemas.has(name)) rmSync(new URL(name, schemaDir));
for (const [name, text] of schemas) writeFileSync(new URL(name, schemaDir), text);
console.log(
  `wrote docs/config.md, docs/errors.md, the example payloads of docs/mqtt.md and ${SCHEMA_DIR}/*.schema.json`,
);
