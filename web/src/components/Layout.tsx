import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useEffect, useRef, useState } from 'react';
import { NavLink, Outlet, useLocation, useNavigate } from 'react-router';
import { api } from '../api/client';
import { problemMessage } from '../api/problem';
import { startSession, useMe, useSession } from '../api/queries';
import { hasRole } from '../auth';

export function Layout() {
  const session = useSession();
  const signedIn = !!session.data;
  const me = useMe(signedIn);
  const client = useQueryClient();
  const navigate = useNavigate();
  const location = useLocation();
  const [logoutError, setLogoutError] = useState<string | null>(null);
  const mainRef = useRef<HTMLElement>(null);
  const firstRender = useRef(true);

  // After client-side navigation, move focus to the page so screen readers
  // and keyboard users start at its content.
  useEffect(() => {
    if (firstRender.current) {
      firstRender.current = false;
      return;
    }
    mainRef.current?.focus();
  }, [location.pathname]);

  const logout = useMutation({
    mutationFn: () => api.post('/api/auth/logout'),
    onSuccess: () => {
      // Leave the page first: its guard would otherwise ask to come back to it.
      navigate('/login');
      startSession(client, null);
    },
    onError: (error) => setLogoutError(problemMessage(error)),
  });

  const s = session.data;
  return (
    <>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="site-header">
        <nav aria-label="Main" className="nav">
          <NavLink to="/" className="brand" end>
            LMS
          </NavLink>
          <ul>
            {signedIn ? (
              <li>
                <NavLink to="/courses" end>
                  Courses
                </NavLink>
              </li>
            ) : null}
            {hasRole(s, 'student') ? (
              <>
                <li>
                  <NavLink to="/dashboard">Dashboard</NavLink>
                </li>
                <li>
                  <NavLink to="/subscription">Subscription</NavLink>
                </li>
                <li>
                  <NavLink to={`/students/${s?.user_id}/invoices`}>Invoices</NavLink>
                </li>
              </>
            ) : null}
            {hasRole(s, 'instructor') ? (
              <>
                <li>
                  <NavLink to="/instructor/courses" end>
                    My courses
                  </NavLink>
                </li>
                <li>
                  <NavLink to="/instructor/courses/new">New course</NavLink>
                </li>
              </>
            ) : null}
            {hasRole(s, 'admin') ? (
              <li>
                <NavLink to="/admin/users">Users</NavLink>
              </li>
            ) : null}
            {!signedIn && !session.isPending ? (
              <>
                <li>
                  <NavLink to="/login">Log in</NavLink>
                </li>
                <li>
                  <NavLink to="/signup">Sign up</NavLink>
                </li>
              </>
            ) : null}
          </ul>
          {signedIn ? (
            <div className="user">
              <span className="who" data-testid="signed-in-as">
                {me.data ? (
                  <>
                    Signed in as <strong>{me.data.display_name}</strong> ({me.data.email})
                  </>
                ) : (
                  'Signed in'
                )}
              </span>
              <button type="button" className="secondary" onClick={() => logout.mutate()} disabled={logout.isPending}>
                Log out
              </button>
            </div>
          ) : null}
        </nav>
        {logoutError ? (
          <div className="alert alert-error" role="alert">
            Could not log out: {logoutError}
          </div>
        ) : null}
      </header>
      <main id="main" ref={mainRef} tabIndex={-1}>
        <Outlet />
      </main>
      <footer className="site-footer">
        <p>LMS · an open-source learning management system</p>
      </footer>
    </>
  );
}
