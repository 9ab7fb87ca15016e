import { bootstrapService } from '@keyledger/service-kit';
import { RotatorModule } from './rotator.module.js';

await bootstrapService({ service: 'rotator', defaultPort: 3003, module: (context) => RotatorModule.forService(context) });
