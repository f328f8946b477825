import { useState } from 'react';
import { Link, useParams } from 'react-router';
import { isApiError, type SessionView } from '../api/client';
import { problemMessage } from '../api/problem';
import { useInvoices } from '../api/queries';
import { Pager } from '../components/CourseTable';
import { Empty, ErrorState, Loading } from '../components/status';
import { usePageTitle } from '../components/usePageTitle';

function money(cents: number, currency: string): string {
  try {
    return new Intl.NumberFormat(undefined, { style: 'currency', currency: currency.toUpperCase() }).format(cents / 100);
  } catch {
    return `${(cents / 100).toFixed(2)} ${currency}`;
  }
}

function day(value: string): string {
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? value : d.toLocaleDateString();
}

export function InvoicesPage({ session }: { session: SessionView }) {
  const { studentId = '' } = useParams();
  const own = studentId === session.user_id;
  usePageTitle(own ? 'Your invoices' : 'Invoices');
  const [tokens, setTokens] = useState<(string | undefined)[]>([undefined]);
  const page = tokens.length - 1;
  const invoices = useInvoices(studentId, tokens[page]);

  let body;
  if (invoices.isPending) {
    body = <Loading what="Loading invoices" />;
  } else if (invoices.isError) {
    const refused = isApiError(invoices.error) && invoices.error.status === 403;
    body = refused ? (
      <div className="alert alert-error" role="alert">
        <p>
          <strong>You are not allowed to see these invoices.</strong> {problemMessage(invoices.error)}
        </p>
        <p>
          <Link to={`/students/${session.user_id}/invoices`}>See your own invoices</Link>
        </p>
      </div>
    ) : (
      <ErrorState error={invoices.error} onRetry={() => invoices.refetch()} />
    );
  } else if (invoices.data.invoices.length === 0) {
    body = (
      <Empty>
        No invoices yet.{own ? <> An invoice is issued when a <Link to="/subscription">subscription</Link> is paid.</> : null}
      </Empty>
    );
  } else {
    body = (
      <table className="table">
        <caption className="visually-hidden">Invoices, newest first</caption>
        <thead>
          <tr>
            <th scope="col">Issued</th>
            <th scope="col">Amount</th>
            <th scope="col">Period</th>
            <th scope="col">Payment reference</th>
          </tr>
        </thead>
        <tbody>
          {invoices.data.invoices.map((i) => (
            <tr key={i.invoice_id}>
              <td>{day(i.issued_at)}</td>
              <td>{money(i.amount_cents, i.currency)}</td>
              <td>
                {day(i.period_start)} – {day(i.period_end)}
              </td>
              <td>
                <code>{i.payment_reference}</code>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    );
  }

  return (
    <section>
      <h1>{own ? 'Your invoices' : 'Invoices of a student'}</h1>
      {!own ? <p className="hint">Student {studentId}</p> : null}
      {body}
      {invoices.data && (page > 0 || invoices.data.next_page_token) ? (
        <Pager
          page={page}
          hasNext={!!invoices.data.next_page_token}
          busy={invoices.isFetching}
          onPrevious={() => setTokens((t) => (t.length > 1 ? t.slice(0, -1) : t))}
          onNext={() => {
            const next = invoices.data?.next_page_token;
            if (next) setTokens((t) => [...t, next]);
          }}
        />
      ) : null}
    </section>
  );
}
