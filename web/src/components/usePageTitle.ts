import { useEffect } from 'react';

/** Sets the document title for the page. */
export function usePageTitle(title: string): void {
  useEffect(() => {
    document.title = `${title} · LMS`;
  }, [title]);
}
