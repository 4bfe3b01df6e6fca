// Entry of /login: the sign-in form only.
import '../login-form/login-form.ts';
