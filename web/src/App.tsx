import { createBrowserRouter, RouterProvider } from 'react-router';
import { RequireAuth } from './auth';
import { Layout } from './components/Layout';
import { AdminUsersPage } from './pages/AdminUsers';
import { CatalogPage } from './pages/Catalog';
import { CoursePage } from './pages/Course';
import { CreateCoursePage } from './pages/CreateCourse';
import { DashboardPage } from './pages/Dashboard';
import { InvoicesPage } from './pages/Invoices';
import { LessonPage } from './pages/Lesson';
import { LogInPage } from './pages/LogIn';
import { ManageCoursePage } from './pages/ManageCourse';
import { HomePage, NotFoundPage } from './pages/Misc';
import { MyCoursesPage } from './pages/MyCourses';
import { SignUpPage } from './pages/SignUp';
import { SubscriptionPage } from './pages/Subscription';

export const routes = [
  {
    element: <Layout />,
    children: [
      { index: true, element: <HomePage /> },
      { path: 'signup', element: <SignUpPage /> },
      { path: 'login', element: <LogInPage /> },
      { path: 'courses', element: <RequireAuth>{() => <CatalogPage />}</RequireAuth> },
      { path: 'courses/:courseId', element: <RequireAuth>{(s) => <CoursePage session={s} />}</RequireAuth> },
      {
        path: 'courses/:courseId/lessons/:lessonId',
        element: <RequireAuth roles={['student']}>{() => <LessonPage />}</RequireAuth>,
      },
      { path: 'dashboard', element: <RequireAuth roles={['student']}>{(s) => <DashboardPage session={s} />}</RequireAuth> },
      {
        path: 'subscription',
        element: <RequireAuth roles={['student']}>{(s) => <SubscriptionPage session={s} />}</RequireAuth>,
      },
      { path: 'students/:studentId/invoices', element: <RequireAuth>{(s) => <InvoicesPage session={s} />}</RequireAuth> },
      { path: 'instructor/courses', element: <RequireAuth roles={['instructor']}>{() => <MyCoursesPage />}</RequireAuth> },
      {
        path: 'instructor/courses/new',
        element: <RequireAuth roles={['instructor']}>{() => <CreateCoursePage />}</RequireAuth>,
      },
      {
        path: 'instructor/courses/:courseId',
        element: <RequireAuth roles={['instructor', 'admin']}>{() => <ManageCoursePage />}</RequireAuth>,
      },
      { path: 'admin/users', element: <RequireAuth roles={['admin']}>{() => <AdminUsersPage />}</RequireAuth> },
      { path: '*', element: <NotFoundPage /> },
    ],
  },
];

const router = createBrowserRouter(routes);

export function App() {
  return <RouterProvider router={router} />;
}
