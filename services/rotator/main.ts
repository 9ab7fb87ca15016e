import { loadRotatorConfig } from '@keyledger/config';
import { bootstrapService } from '@keyledger/service-kit';
import { RotatorModule } from './rotator.module.js';

await bootstrapService({ service: 'rotator', defaultPort: 3003, loadConfig: loadRotatorConfig, module: (context) => RotatorModule.forService(context) });
