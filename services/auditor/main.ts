import { bootstrapService } from '@keyledger/service-kit';
import { AuditorModule } from './auditor.module.js';

await bootstrapService({ service: 'auditor', defaultPort: 3004, module: (context) => AuditorModule.forService(context) });
