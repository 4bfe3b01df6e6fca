// Entry of /admin: users, roles and API tokens (admins only; the API routes enforce it).
import '../app-header/app-header.ts';
import '../user-admin/user-admin.ts';
