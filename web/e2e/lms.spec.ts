// The whole path through the web app against a running stack: an instructor
// (granted by the admin) builds and publishes a course of capacity 1, student
// A finds it, enrolls and completes its lesson, student B finds it full and
// may not read A's invoices; the create-course form refuses bad values
// without a request, as the API does. Every page gets a full-page screenshot
// (LMS_SCREENSHOTS, default web/screenshots) and an axe-core check.
import AxeBuilder from '@axe-core/playwright';
import { expect, test, type Page } from '@playwright/test';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const shotsDir = path.resolve(process.env.LMS_SCREENSHOTS ?? path.join(here, '..', 'screenshots'));
mkdirSync(shotsDir, { recursive: true });

const adminEmail = process.env.LMS_ADMIN_EMAIL ?? 'admin@lms.local';
const adminPassword = process.env.LMS_ADMIN_PASSWORD ?? '';

const stamp = `${Date.now()}-${Math.floor(Math.random() * 1e6)}`;
const password = 'a long test password 1';
const instructor = { email: `instructor-${stamp}@e2e.test`, name: `Ines Instructor ${stamp}` };
const studentA = { email: `student-a-${stamp}@e2e.test`, name: `Ada Student ${stamp}` };
const studentB = { email: `student-b-${stamp}@e2e.test`, name: `Bob Student ${stamp}` };
const courseTitle = `E2E course ${stamp}`;

// Filled in as the scenario goes (the tests run in order).
const state: { studentAId?: string; courseId?: string } = {};

let shotNumber = 0;

/** Full-page screenshot, then axe: no serious or critical violation allowed. */
async function checkPage(page: Page, name: string) {
  await page.waitForLoadState('networkidle');
  await expect(page.locator('main')).toBeVisible();
  shotNumber += 1;
  const file = path.join(shotsDir, `${String(shotNumber).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  const results = await new AxeBuilder({ page }).analyze();
  const bad = results.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  expect(
    bad.map((v) => `${v.impact} ${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`),
    `axe on ${name}`,
  ).toEqual([]);
}

async function signUp(page: Page, who: { email: string; name: string }, shot?: string) {
  await page.goto('/signup');
  await page.getByLabel('Display name').fill(who.name);
  await page.getByLabel('Email').fill(who.email);
  await page.getByLabel('Password').fill(password);
  if (shot) await checkPage(page, shot);
  await page.getByRole('button', { name: 'Sign up' }).click();
  await expect(page).toHaveURL(/\/dashboard$/);
  await expect(page.getByTestId('signed-in-as')).toContainText(who.email);
}

async function logIn(page: Page, email: string, pw: string, shot?: string) {
  await page.goto('/login');
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(pw);
  if (shot) await checkPage(page, shot);
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect(page.getByRole('button', { name: 'Log out' })).toBeVisible();
}

async function logOut(page: Page) {
  await page.getByRole('button', { name: 'Log out' }).click();
  await expect(page).toHaveURL(/\/login(\?.*)?$/);
  await expect(page.getByRole('heading', { name: 'Log in' })).toBeVisible();
}

async function findCourse(page: Page) {
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Courses' }).click();
  await page.getByLabel('Search by title').fill(courseTitle);
  await page.getByRole('button', { name: 'Search' }).click();
  await expect(page).toHaveURL(/title=/);
  await expect(page.getByRole('link', { name: courseTitle })).toBeVisible();
}

test.describe.serial('LMS web app', () => {
  test('an instructor, granted by the admin, builds and publishes a course', async ({ page }) => {
    expect(adminPassword, 'set LMS_ADMIN_PASSWORD (and LMS_ADMIN_EMAIL) to the admin sign-in').not.toBe('');
    await signUp(page, instructor, 'signup');
    const me = await (await page.request.get('/api/me')).json();
    expect(me.email).toBe(instructor.email);
    expect(me.roles).toEqual(['student']);
    await logOut(page);

    await logIn(page, adminEmail, adminPassword, 'login');
    await page.getByRole('link', { name: 'Users' }).click();
    await page.getByLabel('User ID').fill(me.user_id);
    await page.getByLabel('Role').selectOption('instructor');
    await page.getByRole('button', { name: 'Grant role' }).click();
    await expect(page.getByRole('status').filter({ hasText: 'Granted the instructor role' })).toBeVisible();
    await checkPage(page, 'admin-users');
    await logOut(page);

    // Signed in again, the session carries the new role.
    await logIn(page, instructor.email, password);
    await expect(page).toHaveURL(/\/instructor\/courses$/);
    await expect(page.getByRole('heading', { name: 'My courses' })).toBeVisible();
    await expect(page.getByText('You teach no course yet')).toBeVisible();
    await checkPage(page, 'my-courses-empty');

    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'New course' }).click();
    await page.getByLabel('Title').fill(courseTitle);
    await page.getByLabel('Description').fill('A course the end-to-end test builds.');
    await page.getByLabel('Capacity').fill('1');
    await checkPage(page, 'create-course');
    await page.getByRole('button', { name: 'Create course' }).click();
    await expect(page).toHaveURL(/\/instructor\/courses\/[0-9a-f-]{36}$/);
    state.courseId = page.url().split('/').pop();
    await expect(page.getByRole('heading', { level: 1, name: courseTitle })).toBeVisible();
    await expect(page.getByTestId('course-status')).toHaveText('draft');
    await expect(page.getByText('No modules yet.')).toBeVisible();

    await page.getByLabel('Module title').fill('Getting started');
    await page.getByRole('button', { name: 'Add module' }).click();
    await expect(page.getByRole('heading', { level: 3, name: 'Getting started' })).toBeVisible();

    await page.getByLabel('Lesson title').fill('Hello, world');
    await page.getByRole('button', { name: 'Add lesson' }).click();
    await expect(page.locator('.outline').getByText('Hello, world')).toBeVisible();

    await page.getByRole('button', { name: 'Publish' }).click();
    await expect(page.getByTestId('course-status')).toHaveText('published');
    await expect(page.getByText('No students enrolled yet.')).toBeVisible();
    await checkPage(page, 'manage-course');

    await page.getByRole('link', { name: 'My courses' }).first().click();
    await expect(page.getByRole('link', { name: courseTitle })).toBeVisible();
    await checkPage(page, 'my-courses');
    await logOut(page);
  });

  test('student A finds the course, enrolls, completes the lesson and sees 1/1', async ({ page }) => {
    expect(state.courseId, 'needs the course of the first test').toBeTruthy();
    await signUp(page, studentA);
    state.studentAId = (await (await page.request.get('/api/session')).json()).user_id;
    await expect(page.getByText('You are not enrolled in any course yet')).toBeVisible();
    await checkPage(page, 'dashboard-empty');

    await findCourse(page);
    await checkPage(page, 'catalog');
    await page.getByRole('link', { name: courseTitle }).click();
    await expect(page.getByRole('heading', { level: 1, name: courseTitle })).toBeVisible();
    await expect(page.getByTestId('seats')).toHaveText('0/1 seats taken');
    await checkPage(page, 'course');
    await page.getByRole('button', { name: 'Enroll' }).click();
    await expect(page.getByText('You are enrolled', { exact: false }).first()).toBeVisible();

    await page.getByRole('link', { name: 'Hello, world' }).click();
    await expect(page.getByRole('heading', { level: 1, name: 'Hello, world' })).toBeVisible();
    await expect(page.getByTestId('lesson-progress')).toHaveText('0/1 lessons');
    await checkPage(page, 'lesson');
    await page.getByRole('button', { name: 'Complete lesson' }).click();
    await expect(page.getByText('Lesson completed.')).toBeVisible();
    await expect(page.getByTestId('lesson-progress')).toHaveText('1/1 lessons');

    // No reload: the dashboard read waits for the completion (read-your-writes).
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Dashboard' }).click();
    const card = page.locator('.card').filter({ hasText: courseTitle });
    await expect(card.getByTestId('progress-text')).toHaveText('1/1 lessons');
    await expect(card.getByRole('progressbar')).toHaveAttribute('aria-valuenow', '100');
    // Every lesson done: the course can be finished (not here: that frees the
    // seat student B must find taken).
    await expect(card.getByRole('button', { name: `Complete the course ${courseTitle}` })).toBeEnabled();
    await checkPage(page, 'dashboard');

    // Subscription: a trial, a declined card, then a good one.
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Subscription' }).click();
    await expect(page.getByText('You have no subscription yet.')).toBeVisible();
    await page.getByLabel('Plan').selectOption('basic');
    await page.getByRole('button', { name: 'Start trial' }).click();
    await expect(page.getByTestId('subscription-status')).toHaveText('trialing');
    await page.getByLabel('Payment method').fill('pm_card_declined');
    await page.getByRole('button', { name: 'Activate' }).click();
    await expect(page.getByRole('alert').filter({ hasText: /declined/i })).toBeVisible();
    await checkPage(page, 'subscription');
    await page.getByLabel('Payment method').fill('pm_card_visa');
    await page.getByRole('button', { name: 'Activate' }).click();
    await expect(page.getByTestId('subscription-status')).toHaveText('active');

    await page.getByRole('link', { name: 'Your invoices' }).click();
    await expect(page).toHaveURL(new RegExp(`/students/${state.studentAId}/invoices$`));
    await expect(page.getByRole('heading', { name: 'Your invoices' })).toBeVisible();
    await expect(page.locator('table, .empty').first()).toBeVisible();
    await checkPage(page, 'invoices');
    await logOut(page);
  });

  test("student B finds the course full and may not open A's invoices", async ({ page }) => {
    expect(state.courseId && state.studentAId, 'needs the earlier tests').toBeTruthy();
    await signUp(page, studentB);
    await findCourse(page);
    await page.getByRole('link', { name: courseTitle }).click();
    await expect(page.getByRole('heading', { level: 1, name: courseTitle })).toBeVisible();
    // The seat count may trail A's enrollment for a moment: then the server's
    // COURSE_FULL answers the click, and shows the same.
    const enroll = page.getByRole('button', { name: 'Enroll' });
    const full = page.getByRole('button', { name: 'Course full' });
    await expect(enroll.or(full)).toBeVisible();
    if (await enroll.isVisible()) await enroll.click();
    await expect(full).toBeVisible();
    await expect(full).toBeDisabled();
    await checkPage(page, 'course-full');

    await page.goto(`/students/${state.studentAId}/invoices`);
    const refusal = page.getByRole('alert').filter({ hasText: 'not allowed' });
    await expect(refusal).toBeVisible();
    await expect(refusal).toContainText('NOT_YOUR_DATA');
    await checkPage(page, 'invoices-refused');
  });

  test('the create-course form refuses bad values without a request, with the API field names', async ({ page }) => {
    expect(state.courseId, 'needs the instructor of the first test').toBeTruthy();
    await logIn(page, instructor.email, password);
    await page.goto('/instructor/courses/new');
    const posts: string[] = [];
    page.on('request', (r) => {
      if (r.method() !== 'GET' && r.url().includes('/api/courses')) posts.push(r.url());
    });
    await page.getByLabel('Title').fill('   ');
    await page.getByLabel('Capacity').fill('0');
    await page.getByLabel('Access').selectOption('paid');
    await page.getByLabel('Price (cents)').fill('0');
    await page.getByRole('button', { name: 'Create course' }).click();

    const shown: Record<string, string> = {};
    for (const [label, field] of [
      ['Title', 'title'],
      ['Capacity', 'capacity'],
      ['Price (cents)', 'access.price_cents'],
    ] as const) {
      const input = page.getByLabel(label, { exact: true });
      await expect(input).toHaveAttribute('aria-invalid', 'true');
      const describedBy = (await input.getAttribute('aria-describedby')) ?? '';
      const errorId = describedBy.split(' ').find((id) => id.endsWith('-error'));
      expect(errorId, `${label} has an error linked`).toBeTruthy();
      shown[field] = (await page.locator(`[id="${errorId}"]`).textContent()) ?? '';
    }
    await checkPage(page, 'create-course-errors');
    expect(posts).toEqual([]);

    // The same values straight to the API: the same fields, the same words.
    const session = await (await page.request.get('/api/session')).json();
    const reply = await page.request.post('/api/courses', {
      headers: { 'X-CSRF-Token': session.csrf_token },
      data: { title: '   ', description: '', capacity: 0, access: { kind: 'paid', price_cents: 0 } },
    });
    expect(reply.status()).toBe(400);
    expect(reply.headers()['content-type']).toContain('application/problem+json');
    const problem = await reply.json();
    const fromServer: Record<string, string> = {};
    for (const v of problem.violations as { field: string; description: string }[]) fromServer[v.field] = v.description;
    expect(Object.keys(fromServer).sort()).toEqual(Object.keys(shown).sort());
    expect(fromServer).toEqual(shown);
  });
});
