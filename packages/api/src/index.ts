export const API_GROUP = 'migration.dcnlab.com';
