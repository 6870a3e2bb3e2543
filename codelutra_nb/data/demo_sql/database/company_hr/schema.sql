-- company_hr: a software company's departments, employees and their managers, projects and project assignments.
PRAGMA foreign_keys = ON;

CREATE TABLE Department (
    DeptID INTEGER PRIMARY KEY,
    DeptName TEXT NOT NULL,
    Location TEXT NOT NULL,
    AnnualBudget INTEGER
);

CREATE TABLE Employee (
    EmployeeID INTEGER PRIMARY KEY,
    FirstName TEXT NOT NULL,
    LastName TEXT NOT NULL,
    JobTitle TEXT NOT NULL,
    DeptID INTEGER NOT NULL,
    ManagerID INTEGER,
    HireDate DATE NOT NULL,
    Salary INTEGER NOT NULL,
    FOREIGN KEY (DeptID) REFERENCES Department (DeptID),
    FOREIGN KEY (ManagerID) REFERENCES Employee (EmployeeID)
);

CREATE TABLE Project (
    ProjectID INTEGER PRIMARY KEY,
    ProjectName TEXT NOT NULL,
    DeptID INTEGER NOT NULL,
    StartDate DATE NOT NULL,
    EndDate DATE,
    Budget INTEGER,
    FOREIGN KEY (DeptID) REFERENCES Department (DeptID)
);

CREATE TABLE Assignment (
    EmployeeID INTEGER NOT NULL,
    ProjectID INTEGER NOT NULL,
    ProjectRole TEXT NOT NULL,
    HoursPerWeek INTEGER NOT NULL,
    PRIMARY KEY (EmployeeID, ProjectID),
    FOREIGN KEY (EmployeeID) REFERENCES Employee (EmployeeID),
    FOREIGN KEY (ProjectID) REFERENCES Project (ProjectID)
);

INSERT INTO Department VALUES (1, 'Engineering', 'Berlin', 4200000);
INSERT INTO Department VALUES (2, 'Product', 'Berlin', 1300000);
INSERT INTO Department VALUES (3, 'Sales', 'London', 2100000);
INSERT INTO Department VALUES (4, 'Marketing', 'London', 950000);
INSERT INTO Department VALUES (5, 'Finance', 'Amsterdam', 700000);
INSERT INTO Department VALUES (6, 'People Operations', 'Amsterdam', 480000);
INSERT INTO Department VALUES (7, 'Research', 'Zurich', 600000);

INSERT INTO Employee VALUES (1, 'Katrin', 'Vogel', 'Head of Engineering', 1, NULL, '2014-03-01', 185000);
INSERT INTO Employee VALUES (2, 'Martin', 'Schulz', 'Engineering Manager', 1, 1, '2016-07-15', 142000);
INSERT INTO Employee VALUES (3, 'Aylin', 'Yilmaz', 'Senior Software Engineer', 1, 2, '2017-02-01', 118000);
INSERT INTO Employee VALUES (4, 'Jakub', 'Kowalczyk', 'Software Engineer', 1, 2, '2020-09-01', 86000);
INSERT INTO Employee VALUES (5, 'Lena', 'Fischer', 'Software Engineer', 1, 2, '2021-04-12', 82000);
INSERT INTO Employee VALUES (6, 'Ravi', 'Shankar', 'Senior Software Engineer', 1, 2, '2018-11-05', 121000);
INSERT INTO Employee VALUES (7, 'Sofia', 'Costa', 'Data Engineer', 1, 1, '2019-06-03', 98000);
INSERT INTO Employee VALUES (8, 'Tim', 'Becker', 'Junior Software Engineer', 1, 3, '2023-01-09', 61000);
INSERT INTO Employee VALUES (9, 'Hannah', 'Weiss', 'Head of Product', 2, NULL, '2015-05-18', 168000);
INSERT INTO Employee VALUES (10, 'Omar', 'Haddad', 'Product Manager', 2, 9, '2019-03-25', 112000);
INSERT INTO Employee VALUES (11, 'Julia', 'Brandt', 'Product Designer', 2, 9, '2020-01-13', 94000);
INSERT INTO Employee VALUES (12, 'Nora', 'Lindgren', 'UX Researcher', 2, 11, '2022-08-01', 79000);
INSERT INTO Employee VALUES (13, 'George', 'Hughes', 'Head of Sales', 3, NULL, '2013-10-07', 172000);
INSERT INTO Employee VALUES (14, 'Emily', 'Price', 'Account Executive', 3, 13, '2018-04-16', 88000);
INSERT INTO Employee VALUES (15, 'Daniel', 'Okafor', 'Account Executive', 3, 13, '2021-02-22', 84000);
INSERT INTO Employee VALUES (16, 'Charlotte', 'King', 'Sales Development Rep', 3, 14, '2023-06-19', 58000);
INSERT INTO Employee VALUES (17, 'Liam', 'Murphy', 'Sales Development Rep', 3, 14, '2024-01-08', 56000);
INSERT INTO Employee VALUES (18, 'Isabelle', 'Moreau', 'Head of Marketing', 4, NULL, '2016-09-12', 150000);
INSERT INTO Employee VALUES (19, 'Lucas', 'Meyer', 'Content Strategist', 4, 18, '2020-05-04', 76000);
INSERT INTO Employee VALUES (20, 'Zara', 'Ahmed', 'Marketing Analyst', 4, 18, '2022-03-14', 72000);
INSERT INTO Employee VALUES (21, 'Pieter', 'de Vries', 'Chief Financial Officer', 5, NULL, '2012-01-09', 210000);
INSERT INTO Employee VALUES (22, 'Anouk', 'Jansen', 'Financial Analyst', 5, 21, '2019-10-01', 90000);
INSERT INTO Employee VALUES (23, 'Sanne', 'Bakker', 'Accountant', 5, 21, '2021-07-26', 74000);
INSERT INTO Employee VALUES (24, 'Elena', 'Popova', 'People Partner', 6, NULL, '2018-02-05', 97000);
INSERT INTO Employee VALUES (25, 'Mark', 'Visser', 'Recruiter', 6, 24, '2022-11-21', 65000);
INSERT INTO Employee VALUES (26, 'Mia', 'Schneider', 'QA Engineer', 1, 2, '2024-04-02', 69000);

INSERT INTO Project VALUES (1, 'Atlas Platform', 1, '2023-01-09', NULL, 900000);
INSERT INTO Project VALUES (2, 'Mobile App Redesign', 2, '2023-04-03', '2024-02-28', 350000);
INSERT INTO Project VALUES (3, 'Payments API', 1, '2022-09-01', '2023-12-15', 520000);
INSERT INTO Project VALUES (4, 'Data Warehouse Migration', 1, '2024-02-01', NULL, 610000);
INSERT INTO Project VALUES (5, 'Enterprise Outreach', 3, '2023-07-01', NULL, 180000);
INSERT INTO Project VALUES (6, 'Brand Refresh', 4, '2023-10-16', '2024-03-29', 140000);
INSERT INTO Project VALUES (7, 'Quarterly Forecasting Tool', 5, '2024-01-15', NULL, 95000);
INSERT INTO Project VALUES (8, 'Onboarding Portal', 6, '2023-05-08', '2023-11-30', 60000);
INSERT INTO Project VALUES (9, 'Customer Insights Dashboard', 2, '2024-03-04', NULL, 220000);
INSERT INTO Project VALUES (10, 'Partner Program', 3, '2024-05-06', NULL, NULL);
INSERT INTO Project VALUES (11, 'Search Relevance', 1, '2024-06-03', NULL, 300000);

INSERT INTO Assignment VALUES (1, 1, 'Sponsor', 4);
INSERT INTO Assignment VALUES (2, 1, 'Lead', 20);
INSERT INTO Assignment VALUES (3, 1, 'Developer', 30);
INSERT INTO Assignment VALUES (6, 1, 'Developer', 25);
INSERT INTO Assignment VALUES (8, 1, 'Developer', 32);
INSERT INTO Assignment VALUES (2, 3, 'Lead', 15);
INSERT INTO Assignment VALUES (4, 3, 'Developer', 35);
INSERT INTO Assignment VALUES (5, 3, 'Developer', 30);
INSERT INTO Assignment VALUES (7, 4, 'Lead', 30);
INSERT INTO Assignment VALUES (6, 4, 'Developer', 10);
INSERT INTO Assignment VALUES (4, 4, 'Developer', 5);
INSERT INTO Assignment VALUES (9, 2, 'Sponsor', 5);
INSERT INTO Assignment VALUES (10, 2, 'Lead', 25);
INSERT INTO Assignment VALUES (11, 2, 'Designer', 30);
INSERT INTO Assignment VALUES (12, 2, 'Researcher', 20);
INSERT INTO Assignment VALUES (3, 2, 'Developer', 10);
INSERT INTO Assignment VALUES (5, 2, 'Developer', 8);
INSERT INTO Assignment VALUES (10, 9, 'Lead', 15);
INSERT INTO Assignment VALUES (12, 9, 'Researcher', 10);
INSERT INTO Assignment VALUES (7, 9, 'Developer', 10);
INSERT INTO Assignment VALUES (20, 9, 'Analyst', 12);
INSERT INTO Assignment VALUES (13, 5, 'Sponsor', 4);
INSERT INTO Assignment VALUES (14, 5, 'Lead', 20);
INSERT INTO Assignment VALUES (15, 5, 'Member', 25);
INSERT INTO Assignment VALUES (16, 5, 'Member', 30);
INSERT INTO Assignment VALUES (19, 6, 'Lead', 30);
INSERT INTO Assignment VALUES (20, 6, 'Analyst', 15);
INSERT INTO Assignment VALUES (11, 6, 'Designer', 10);
INSERT INTO Assignment VALUES (18, 6, 'Sponsor', 6);
INSERT INTO Assignment VALUES (21, 7, 'Sponsor', 3);
INSERT INTO Assignment VALUES (22, 7, 'Lead', 25);
INSERT INTO Assignment VALUES (23, 7, 'Analyst', 20);
INSERT INTO Assignment VALUES (7, 7, 'Developer', 6);
INSERT INTO Assignment VALUES (24, 8, 'Lead', 20);
INSERT INTO Assignment VALUES (25, 8, 'Member', 15);
INSERT INTO Assignment VALUES (4, 8, 'Developer', 12);
INSERT INTO Assignment VALUES (15, 10, 'Lead', 10);
INSERT INTO Assignment VALUES (17, 10, 'Member', 20);
